// The triage story with the real collector over TLS and vigilctl, and a real SMTP receiver
// (python3 -m aiosmtpd) as the relay: recorded activity of two departing users raises two alerts;
// one is dismissed with a reason, the other confirmed into a case; a note is added; a reminder
// notice goes through SMTP with its placeholders filled and is recorded on the case; the content
// explorer and activity chart show the evidence; the case is escalated into an export package
// whose manifest hashes match the files, and cannot be escalated twice; after a restart the
// decisions are still there.
#include <catch2/catch.hpp>
#include <filesystem>

#include "shared/crypto.h"
#include "shared/time_util.h"
#include "tests/integration/scenario_support.h"

using namespace vigil::testing;
namespace json = boost::json;

namespace {

std::string rfc3339_ago(std::int64_t seconds) { return vigil::format_rfc3339(vigil::now_ns() - seconds * 1'000'000'000, 3); }

// n USB copies of documents with card numbers by `who`, an hour ago.
std::string usb_copies(const std::string& who, int n) {
  std::ostringstream o;
  for (int i = 0; i < n; ++i)
    o << R"({"type": "exfil.removable", "time": ")" << rfc3339_ago(3600 - i * 30) << R"(", "user": ")" << who
      << R"(", "file": {"path": "/media/stick/)" << who << "-plan-" << i << (i % 2 ? ".pdf" : ".docx")
      << R"(", "size": ")" << 40000 + i << R"(", "sha256": ")" << std::string(62, 'c') << (10 + i)
      << R"(", "content_type": ")" << (i % 2 ? "pdf" : "docx") << R"(", "source_path": "/home/)" << who << "/plan-" << i
      << R"(", "volume": {"mount_point": "/media/stick", "label": "KINGSTON", "removable": true}, )"
      << R"("classification": {"status": "scanned", "findings": [{"type": "credit_card", "count": 2, "confidence": "high"}]}}})"
      << "\n";
  return o.str();
}

json::object ctl_json(Deployment& d, const std::vector<std::string>& args) {
  auto r = d.ctl(args);
  INFO("vigilctl " << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

}  // namespace

TEST_CASE("triage story: dismiss, confirm into a case, note, notice over SMTP, escalate with a verified manifest",
          "[triage]") {
  const std::string python = "/usr/bin/python3";
  if (run_command({python, "-c", "import aiosmtpd"}).exit_code != 0) {
    WARN("SKIPPED: python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd); the notice cannot be "
         "delivered to a real SMTP receiver, so this story is not told");
    return;
  }
  Deployment d("triage");
  const std::string mailbox = d.dir() + "/mailbox";
  const auto smtp_port = free_port();
  Process smtp({python, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + std::to_string(smtp_port), "-c",
                "aiosmtpd.handlers.Mailbox", mailbox},
               d.dir() + "/smtp.log");
  REQUIRE(wait_for_port(smtp_port, 20s));
  spit(d.data_dir() + "/collector.toml", slurp(d.data_dir() + "/collector.toml") + "\n[smtp]\nhost = \"127.0.0.1\"\nport = " +
                                             std::to_string(smtp_port) + "\nfrom = \"vigil@corp.example\"\nstarttls = false\n");
  d.start_collector();

  // Two departing users; tina's address for notices comes from the user attributes.
  const auto hr = d.dir() + "/hr.csv";
  spit(hr, "user,event,date,detail\nvigil-tina,resignation," + days_ago(4) + ",\nvigil-ulf,resignation," + days_ago(4) + ",\n");
  ctl_json(d, {"hr", "import", hr, "--json"});
  const auto attrs = d.dir() + "/attrs.csv";
  spit(attrs, "user,department,email\nvigil-tina,Sales,tina@corp.example\nvigil-ulf,Sales,ulf@corp.example\n");
  auto ai = d.ctl({"users", "import-attributes", attrs, "--json"});
  INFO(ai.out << ai.err);
  REQUIRE(ai.exit_code == 0);
  const auto policy = d.dir() + "/departing.json";
  spit(policy, R"({"name": "Departing users taking data", "template": "data_theft_departing_users"})");
  create_policy(d, policy);

  // Activity, through the recorded-activity import (POST /api/v1/recorded-activity).
  const auto rec = d.dir() + "/stick.jsonl";
  spit(rec, usb_copies("vigil-tina", 6) + usb_copies("vigil-ulf", 6));
  auto imp = d.ctl({"import-activity", rec, "--source", "laptop-sales"});
  INFO(imp.out << imp.err);
  REQUIRE(imp.exit_code == 0);
  std::vector<json::object> tina, ulf;
  REQUIRE(eventually([&] {
    tina = alerts_for(d, "vigil-tina");
    ulf = alerts_for(d, "vigil-ulf");
    return !tina.empty() && !ulf.empty();
  }, 30s, 250ms));
  const std::string tina_alert = str(tina[0], "id"), ulf_alert = str(ulf[0], "id");
  CHECK(str(tina[0], "status") == "needs_review");

  // Triage: bad input changes nothing (usage error, exit 2), then dismiss one, confirm the other.
  auto no_reason = d.ctl({"alerts", "dismiss", ulf_alert, "--reason", " "});
  CHECK(no_reason.exit_code == 2);
  auto one_bad = d.ctl({"alerts", "dismiss", ulf_alert, "a-424242", "--reason", "backup"});
  CHECK(one_bad.exit_code == 2);
  CHECK(one_bad.err.find("a-424242") != std::string::npos);
  CHECK(str(alerts_for(d, "vigil-ulf")[0], "status") == "needs_review");
  auto dis = ctl_json(d, {"alerts", "dismiss", ulf_alert, "--reason", "approved copy for the handover", "--json"});
  CHECK(str(dis.at("alerts").at(0).as_object(), "status") == "dismissed");
  auto conf = ctl_json(d, {"alerts", "confirm", tina_alert, "--title", "Tina's plans on a USB stick", "--json"});
  const std::string case_id = str(conf.at("case").as_object(), "id");
  REQUIRE(!case_id.empty());
  auto listed = alerts_for(d, "vigil-tina");
  CHECK(str(listed[0], "status") == "confirmed");
  CHECK(str(listed[0], "case_id") == case_id);
  CHECK(str(listed[0], "case_status") == "active");

  // Investigate: note, content explorer, activity over time.
  ctl_json(d, {"cases", "note", case_id, "--text", "Manager confirms no business need", "--json"});
  auto files = d.ctl({"cases", "files", case_id, "--type", "pdf", "--tag", "credit_card", "--json"});
  REQUIRE(files.exit_code == 0);
  auto file_rows = lines_of(files.out);
  CHECK(file_rows.size() == 3);
  for (const auto& f : file_rows) {
    CHECK(str(f, "channel") == "removable");
    CHECK(str(f, "sha256").size() == 64);
    CHECK(str(f, "device_id") == "recorded-laptop-sales");
  }
  auto days = d.ctl({"cases", "activity", case_id, "--json"});
  REQUIRE(days.exit_code == 0);
  std::uint64_t events = 0, scored = 0;
  for (const auto& day : lines_of(days.out)) {
    events += u64(day, "events");
    scored += u64(day, "scored_activities");
  }
  CHECK(events == 6);
  CHECK(scored == 6);

  // A reminder notice through the real SMTP receiver.
  const auto body = d.dir() + "/notice.txt";
  spit(body, "Dear {{user}},\nplease remember that company plans stay on company devices.\nCase {{case_id}}, {{sender}}\n");
  auto bad_tpl = d.ctl({"notices", "templates", "--name", "typo", "--subject", "Hi {{usr}}", "--body-file", body});
  CHECK(bad_tpl.exit_code == 2);
  CHECK(bad_tpl.err.find("{{usr}}") != std::string::npos);
  ctl_json(d, {"notices", "templates", "--name", "usb-reminder", "--subject", "Reminder about {{case_id}}", "--body-file", body,
               "--json"});
  auto sent = ctl_json(d, {"notices", "send", case_id, "--template", "usb-reminder", "--json"});
  CHECK(sent.at("delivered").as_bool());
  std::string message;
  REQUIRE(eventually([&] {
    if (!std::filesystem::exists(mailbox + "/new")) return false;
    for (const auto& e : std::filesystem::directory_iterator(mailbox + "/new")) message = slurp(e.path());
    return !message.empty();
  }, 10s));
  INFO(message);
  CHECK(message.find("To: <tina@corp.example>") != std::string::npos);
  CHECK(message.find("Subject: Reminder about " + case_id) != std::string::npos);
  CHECK(message.find("Dear vigil-tina,") != std::string::npos);
  CHECK(message.find("Case " + case_id + ", admin") != std::string::npos);
  CHECK(message.find("{{") == std::string::npos);
  auto shown = ctl_json(d, {"cases", "show", case_id, "--json"});
  REQUIRE(shown.at("notices").as_array().size() == 1);
  CHECK(shown.at("notices").at(0).at("delivered").as_bool());
  CHECK(shown.at("notes").as_array().size() == 1);

  // A relay that is gone: the failure is said and recorded on the case.
  smtp.signal(SIGTERM);
  smtp.wait(10s);
  auto failed = d.ctl({"notices", "send", case_id, "--template", "usb-reminder"});
  CHECK(failed.exit_code == 1);
  CHECK(failed.err.find("not delivered") != std::string::npos);
  shown = ctl_json(d, {"cases", "show", case_id, "--json"});
  REQUIRE(shown.at("notices").as_array().size() == 2);
  CHECK_FALSE(shown.at("notices").at(1).at("delivered").as_bool());

  // Escalate: the package's manifest hashes every file; a second escalation is refused.
  auto esc = ctl_json(d, {"cases", "escalate", case_id, "--reason", "legal review", "--json"});
  const std::string pkg = str(esc, "export");
  REQUIRE(pkg.rfind(d.data_dir() + "/exports/" + case_id + "-", 0) == 0);
  auto manifest = json::parse(slurp(pkg + "/manifest.json")).as_object();
  CHECK(str(manifest, "case_id") == case_id);
  CHECK(u64(manifest, "events") == 6);
  std::size_t checked = 0;
  for (const auto& f : manifest.at("files").as_array()) {
    const std::string content = slurp(pkg + "/" + str(f.as_object(), "name"));
    CHECK(vigil::crypto::sha256_hex(content) == str(f.as_object(), "sha256"));
    CHECK(content.size() == u64(f.as_object(), "bytes"));
    ++checked;
  }
  CHECK(checked == 6);
  CHECK(lines_of(slurp(pkg + "/events.jsonl")).size() == 6);
  CHECK(slurp(pkg + "/notes.json").find("Manager confirms") != std::string::npos);
  CHECK(d.ctl({"cases", "escalate", case_id}).exit_code == 2);

  // Restart: decisions and the case are still there; then close it as confirmed.
  d.stop_collector();
  d.start_collector();
  REQUIRE(eventually([&] { return d.ctl({"cases", "list", "--json"}).exit_code == 0; }, 20s));
  auto after = alerts_for(d, "vigil-ulf");
  REQUIRE(!after.empty());
  CHECK(str(after[0], "status") == "dismissed");
  auto cases = lines_of(d.ctl({"cases", "list", "--status", "escalated", "--json"}).out);
  REQUIRE(cases.size() == 1);
  CHECK(str(cases[0], "id") == case_id);
  auto closed = ctl_json(d, {"cases", "close", case_id, "--resolution", "confirmed", "--reason", "HR informed", "--json"});
  CHECK(str(closed, "status") == "resolved");
  CHECK(str(alerts_for(d, "vigil-tina")[0], "status") == "resolved");
}
