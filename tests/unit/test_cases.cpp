// CaseService, CaseStore and notice templates below the API: all-or-nothing triage, frozen
// alerts, decisions surviving a restart, escalation packages whose manifest matches the files,
// placeholder checks, mail formatting and a relay that refuses.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "cases_test_support.h"
#include "collector/cases/notice_template.h"
#include "collector/policy/csv_import.h"
#include "collector/collector_config.h"
#include "shared/crypto.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::collector::cases;
using namespace vigil::test;
namespace json = boost::json;

TEST_CASE("notice templates: known placeholders only, one-line subjects, filled completely", "[cases]") {
  CHECK(check_template("reminder", "Hello {{user}}", "Case {{ case_id }} by {{sender}} on {{date}}: {{case_title}}"));
  auto unknown = check_template("r", "Hi {{usr}}", "x");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().find("unknown placeholder '{{usr}}'") != std::string::npos);
  CHECK_FALSE(check_template("r", "Hi", "body {{user"));
  CHECK_FALSE(check_template("r", "two\nlines", "x"));
  CHECK_FALSE(check_template("", "s", "b"));
  CHECK_FALSE(check_template("r", "s", ""));
  std::map<std::string, std::string> v{{"user", "alice"}, {"case_id", "c-1"}, {"sender", "ann"}, {"date", "2026-12-06"},
                                       {"case_title", "t"}};
  CHECK(render_template("Dear {{user}}, see {{ case_id }} ({{sender}}).", v) == "Dear alice, see c-1 (ann).");
}

TEST_CASE("mail: addresses are checked and the message is RFC 5322 with CRLF", "[cases]") {
  CHECK(valid_email("alice@example.com"));
  CHECK_FALSE(valid_email("alice"));
  CHECK_FALSE(valid_email("a@b@c"));
  CHECK_FALSE(valid_email("alice@example.com\r\nBcc: x@y"));
  CHECK_FALSE(valid_email("<alice@example.com>"));
  auto text = format_mail("vigil@example.com", MailMessage{"alice@example.com", "Grüße", "line 1\nline 2\n"}, now_ns());
  CHECK(text.find("To: <alice@example.com>\r\n") != std::string::npos);
  CHECK(text.find("Subject: =?UTF-8?B?") != std::string::npos);
  CHECK(text.find("\r\n\r\nline 1\r\nline 2\r\n") != std::string::npos);
  // A relay that is not there: the error says where.
  SmtpMailer none(SmtpSettings{"127.0.0.1", 1, "vigil@example.com", false, "", 5});
  auto st = none.send(MailMessage{"alice@example.com", "s", "b"});
  REQUIRE_FALSE(st);
  CHECK(st.error().find("SMTP to 127.0.0.1:1") != std::string::npos);
}

TEST_CASE("triage is all or nothing, triaged alerts are frozen, decisions survive a restart", "[cases]") {
  CaseFixture f;
  f.import("laptop", usb_copies("alice", 4, 3) + usb_copies("bob", 4, 3));
  const auto a = f.alert_of("alice"), b = f.alert_of("bob");

  // One unknown id: nothing changes.
  auto bad = f.service->triage({TriageAction::Dismiss, {a, "a-999"}, "noise", "", "", "ann"});
  REQUIRE_FALSE(bad);
  CHECK(bad.failure().kind == Failure::NotFound);
  CHECK(f.engine->alert(a)->status == policy::AlertStatus::NeedsReview);
  // A case is about one user.
  auto mixed = f.service->triage({TriageAction::Confirm, {a, b}, "", "", "", "ann"});
  REQUIRE_FALSE(mixed);
  CHECK(mixed.failure().kind == Failure::Conflict);
  CHECK(f.service->cases({})->empty());
  CHECK_FALSE(f.service->triage({TriageAction::Dismiss, {a}, "", "", "", "ann"}));  // reason required
  CHECK_FALSE(f.service->triage({TriageAction::Dismiss, {a, a}, "x", "", "", "ann"}));

  auto dismissed = f.service->triage({TriageAction::Dismiss, {b}, "approved backup to company stick", "", "", "ann"});
  REQUIRE(dismissed);
  CHECK(f.engine->alert(b)->status == policy::AlertStatus::Dismissed);
  auto again = f.service->triage({TriageAction::Confirm, {b}, "", "", "", "ann"});
  REQUIRE_FALSE(again);
  CHECK(again.failure().kind == Failure::Conflict);

  // Frozen: bob's new activity after the dismissal starts a new alert; the dismissed one keeps its list.
  const auto before = f.engine->alert(b)->activities.size();
  f.import("laptop", usb_copies("bob", 4, 1));
  CHECK(f.engine->alert(b)->activities.size() == before);
  const auto b2 = f.alert_of("bob");
  CHECK(b2 != b);

  auto confirmed = f.service->triage({TriageAction::Confirm, {a}, "", "", "Alice copied card data", "ann"});
  REQUIRE(confirmed);
  REQUIRE(confirmed->kase);
  CHECK(confirmed->kase->user == "alice");
  CHECK(f.engine->alert(a)->status == policy::AlertStatus::Confirmed);
  // bob's new alert cannot join alice's case.
  auto foreign = f.service->triage({TriageAction::Attach, {b2}, "", confirmed->kase->id(), "", "ann"});
  REQUIRE_FALSE(foreign);
  CHECK(foreign.failure().kind == Failure::Conflict);

  // The decisions are in cases.db: a fresh engine state gets them back through reconcile().
  CHECK(f.engine->set_alert_status(a, policy::AlertStatus::NeedsReview));
  CHECK(f.engine->set_alert_status(b, policy::AlertStatus::NeedsReview));
  REQUIRE(f.service->reconcile());
  CHECK(f.engine->alert(a)->status == policy::AlertStatus::Confirmed);
  CHECK(f.engine->alert(b)->status == policy::AlertStatus::Dismissed);

  // Closing resolves the case's alerts and makes it read-only.
  auto closed = f.service->close(confirmed->kase->id(), Resolution::Confirmed, "HR informed", "ann");
  REQUIRE(closed);
  CHECK(closed->status == CaseStatus::Resolved);
  CHECK(f.engine->alert(a)->status == policy::AlertStatus::Resolved);
  CHECK(f.service->add_note(closed->id(), "ann", "late").failure().kind == Failure::Conflict);
  CHECK(f.service->escalate(closed->id(), "", "ann").failure().kind == Failure::Conflict);
}

TEST_CASE("escalation writes a package whose manifest hashes every file, once", "[cases]") {
  CaseFixture f;
  f.import("laptop", usb_copies("alice", 5, 2));
  auto c = f.service->triage({TriageAction::Confirm, {f.alert_of("alice")}, "", "", "", "ann"});
  REQUIRE(c);
  const auto id = c->kase->id();
  REQUIRE(f.service->add_note(id, "ann", "spoke to the manager"));
  auto files = f.service->files(*c->kase, {});
  REQUIRE(files);
  CHECK(files->size() == 5);
  CHECK(f.service->files(*c->kase, FileFilter{std::string("removable"), std::string("pdf"), std::string("credit_card")})->size() == 2);
  CHECK(f.service->files(*c->kase, FileFilter{std::string("print"), {}, {}})->empty());

  auto pkg = f.service->escalate(id, "legal hold", "ann");
  REQUIRE(pkg);
  struct stat st {};
  REQUIRE(::stat(pkg->dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto manifest = json::parse(slurp(pkg->dir + "/manifest.json")).as_object();
  CHECK(manifest.at("case_id").as_string() == id);
  CHECK(manifest.at("events").as_int64() == 5);
  std::set<std::string> names;
  for (const auto& e : manifest.at("files").as_array()) {
    const auto name = std::string(e.at("name").as_string());
    names.insert(name);
    CHECK(crypto::sha256_hex(slurp(pkg->dir + "/" + name)) == e.at("sha256").as_string());
    REQUIRE(::stat((pkg->dir + "/" + name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK(names == std::set<std::string>{"case.json", "alerts.json", "events.jsonl", "files.json", "notes.json", "notices.json"});
  CHECK(slurp(pkg->dir + "/notes.json").find("spoke to the manager") != std::string::npos);
  auto twice = f.service->escalate(id, "", "ann");
  REQUIRE_FALSE(twice);
  CHECK(twice.failure().kind == Failure::Conflict);
  CHECK(std::distance(std::filesystem::directory_iterator(f.tmp.file("exports")), std::filesystem::directory_iterator{}) == 1);
}

TEST_CASE("activity over time: per-day buckets with events and scored activities by severity", "[cases]") {
  CaseFixture f;
  f.import("laptop", usb_copies("alice", 3, 50) + usb_copies("alice", 2, 1));
  auto c = f.service->triage({TriageAction::Confirm, {f.alert_of("alice")}, "", "", "", "ann"});
  REQUIRE(c);
  auto a = f.service->activity(*c->kase, {}, {});
  REQUIRE(a);
  std::uint64_t events = 0, scored = 0, by_sev = 0;
  for (const auto& d : a->days) {
    events += d.events;
    scored += d.scored;
    by_sev += d.low + d.medium + d.high;
  }
  CHECK(events == 5);
  CHECK(scored == f.engine->alert(c->kase->alert_ids[0])->activities.size());
  CHECK(by_sev == scored);
  CHECK(a->days.size() >= 15);
}

TEST_CASE("notices: sent to the email attribute, recorded either way", "[cases]") {
  CaseFixture f;
  f.import("laptop", usb_copies("alice", 3, 2) + usb_copies("bob", 3, 2));
  auto ca = f.service->triage({TriageAction::Confirm, {f.alert_of("alice")}, "", "", "", "ann"});
  auto cb = f.service->triage({TriageAction::Confirm, {f.alert_of("bob")}, "", "", "", "ann"});
  REQUIRE(ca);
  REQUIRE(cb);
  CHECK(f.service->add_template("reminder", "About {{case_id}}", "Hello {{user}}, from {{sender}}.", "ann"));
  CHECK(f.service->add_template("reminder", "x", "y", "ann").failure().kind == Failure::Conflict);
  auto sent = f.service->send_notice(ca->kase->id(), "reminder", "ann");
  REQUIRE(sent);
  CHECK(sent->delivered);
  REQUIRE(f.mail->sent.size() == 1);
  CHECK(f.mail->sent[0].to == "alice@example.com");
  CHECK(f.mail->sent[0].subject == "About " + ca->kase->id());
  CHECK(f.mail->sent[0].body == "Hello alice, from ann.");
  // bob has no email attribute: refused, and recorded on his case with the reason.
  auto none = f.service->send_notice(cb->kase->id(), "t-1", "ann");
  REQUIRE_FALSE(none);
  auto recorded = f.service->notices(*cb->kase);
  REQUIRE(recorded);
  REQUIRE(recorded->size() == 1);
  CHECK_FALSE((*recorded)[0].delivered);
  CHECK((*recorded)[0].error.find("email") != std::string::npos);
}

TEST_CASE("notices: a relay that cannot be reached is recorded on the case with its error", "[cases]") {
  CaseFixture f(std::make_unique<SmtpMailer>(SmtpSettings{"127.0.0.1", 1, "vigil@example.com", false, "", 5}));
  f.import("laptop", usb_copies("alice", 3, 2));
  auto ca = f.service->triage({TriageAction::Confirm, {f.alert_of("alice")}, "", "", "", "ann"});
  REQUIRE(ca);
  REQUIRE(f.service->add_template("reminder", "About {{case_id}}", "Hello {{user}}", "ann"));
  auto sent = f.service->send_notice(ca->kase->id(), "reminder", "ann");
  REQUIRE_FALSE(sent);
  CHECK(sent.failure().kind == Failure::Delivery);
  auto recorded = f.service->notices(*ca->kase);
  REQUIRE(recorded->size() == 1);
  CHECK((*recorded)[0].error.find("SMTP to 127.0.0.1:1") != std::string::npos);
}

TEST_CASE("user attributes carry the notice address, a malformed one rejects its row", "[cases]") {
  auto p = policy::parse_attributes_csv("user,department,email\nalice,Sales,alice@example.com\nbob,Sales,bob at example\ncarol,IT,\n");
  REQUIRE(p);
  REQUIRE(p->rows.size() == 2);
  CHECK(p->rows[0].email == "alice@example.com");
  CHECK(p->rows[1].email.empty());
  REQUIRE(p->errors.size() == 1);
  CHECK(p->errors[0].line == 3);
  CHECK(p->errors[0].reason.find("email") != std::string::npos);
}

TEST_CASE("collector.toml [smtp]: checked keys, 'from' required with a host", "[cases]") {
  TempDir tmp;
  auto good = tmp.write("good.toml", "[smtp]\nhost = \"mail.example\"\nport = 587\nfrom = \"v@example.com\"\nstarttls = true\n");
  auto c = load_collector_config(good);
  REQUIRE(c);
  CHECK(c->smtp_host == "mail.example");
  CHECK(c->smtp_port == 587);
  CHECK(c->smtp_starttls);
  auto no_from = load_collector_config(tmp.write("a.toml", "[smtp]\nhost = \"mail.example\"\n"));
  REQUIRE_FALSE(no_from);
  CHECK(no_from.error().find("from") != std::string::npos);
  auto typo = load_collector_config(tmp.write("b.toml", "[smtp]\nhots = \"x\"\n"));
  REQUIRE_FALSE(typo);
  CHECK(typo.error().find("b.toml:2") != std::string::npos);
  CHECK_FALSE(load_collector_config(tmp.write("c.toml", "[smtp]\nport = 0\n")));
  CHECK_FALSE(load_collector_config(tmp.write("d.toml", "[smtp]\nstarttls = \"yes\"\n")));
}
