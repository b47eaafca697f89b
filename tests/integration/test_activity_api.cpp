// The investigator's activity API through the real collector over mutual TLS, driven with
// vigilctl only: recorded activity of three users (the documented import path), `activity query`
// with user / type / time-range filters and keyset paging, `activity export` to CSV and JSONL,
// then the privacy rules over the wire: a role group scoped to a department sees only that
// department's users, a caller without reveal_names sees pseudonyms (never a real name, home
// paths included) and can filter by a pseudonym but not by a real name, and every export start
// and download is in the audit log an auditor reads with `vigilctl audit list`. Tag: [activity_api].
#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "shared/time_util.h"
#include "tests/integration/scenario_support.h"

using namespace vigil::testing;
namespace json = boost::json;

namespace {

std::string hours_ago(int h) { return vigil::format_rfc3339(vigil::now_ns() - std::int64_t{h} * 3600 * 1'000'000'000, 3); }

// n USB copies by `who` over the last n hours, and two prints ten days ago: n + 2 events. The
// user's name is in free text too (home paths, the print title), which pseudonymised callers
// must not read.
std::string activity_of(const std::string& who, int n) {
  std::ostringstream o;
  for (int i = 0; i < n; ++i)
    o << R"({"type": "exfil.removable", "time": ")" << hours_ago(i + 1) << R"(", "user": ")" << who
      << R"(", "file": {"path": "/media/stick/report-)" << i << R"(.docx", "size": ")" << 1000 + i
      << R"(", "source_path": "/home/)" << who << "/report-" << i
      << R"(.docx", "volume": {"mount_point": "/media/stick", "removable": true}}})" << "\n";
  for (int i = 0; i < 2; ++i)
    o << R"({"type": "print.job", "time": ")" << hours_ago(240 + i) << R"(", "user": ")" << who
      << R"(", "print": {"printer": "HR-2", "title": ")" << who << R"(-budget.xlsx", "pages": 3}})" << "\n";
  return o.str();
}

CommandResult with_stdin(const std::vector<std::string>& argv, const std::string& input) {
  std::string cmd = "printf '%s\\n' '" + input + "' |";
  for (const auto& a : argv) cmd += " '" + a + "'";
  return run_command({"/bin/sh", "-c", cmd});
}

// A vigilctl logged in as one account (its own config file holding the session token).
struct Analyst {
  std::string cfg;
  CommandResult ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{bin("vigilctl"), "--config", cfg};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  }
};

Analyst make_account(Deployment& d, const std::string& name, const std::vector<std::string>& groups) {
  const std::string pw = "password of " + name;
  std::vector<std::string> add{bin("vigilctl"), "--server", "https://127.0.0.1:" + std::to_string(d.api_port()), "--ca",
                               d.ca(), "--token", d.admin_token(), "accounts", "add", name, "--password-stdin"};
  for (const auto& g : groups) add.insert(add.end(), {"--group", g});
  auto made = with_stdin(add, pw);
  INFO("accounts add " << name << ": " << made.out << made.err);
  REQUIRE(made.exit_code == 0);
  Analyst a{d.dir() + "/vigilctl-" + name + ".toml"};
  auto in = with_stdin({bin("vigilctl"), "--server", "https://127.0.0.1:" + std::to_string(d.api_port()), "--ca", d.ca(),
                        "--config", a.cfg, "login", "--user", name, "--password-stdin"},
                       pw);
  INFO("login " << name << ": " << in.out << in.err);
  REQUIRE(in.exit_code == 0);
  return a;
}

// vigilctl as the bootstrap admin; must succeed; its stdout.
std::string ctl_ok(Deployment& d, const std::vector<std::string>& args) {
  auto r = d.ctl(args);
  INFO("vigilctl " << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::vector<json::object> events_from(const CommandResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return lines_of(r.out);
}

std::set<std::string> users_in(const std::vector<json::object>& events) {
  std::set<std::string> out;
  for (const auto& e : events) out.insert(str(e, "user"));
  return out;
}

using Key = std::tuple<std::string, std::string, std::uint64_t>;
Key key_of(const json::object& e) { return {str(e, "time"), str(e, "device_id"), u64(e, "seq")}; }

std::size_t csv_rows(const std::string& text) {
  std::size_t n = 0;
  for (std::size_t p = text.find("\r\n"); p != std::string::npos; p = text.find("\r\n", p + 2)) ++n;
  return n;
}

}  // namespace

TEST_CASE("activity query and export over TLS: filters, paging, population scope, pseudonyms, audit", "[activity_api]") {
  Deployment d("activity-api");
  d.start_collector();

  // Who is who: amy and bo in Sales, cy in Engineering.
  const auto attrs = d.dir() + "/attrs.csv";
  spit(attrs, "user,department,region\nvigil-amy,Sales,EMEA\nvigil-bo,Sales,AMER\nvigil-cy,Engineering,EMEA\n");
  auto ai = d.ctl({"users", "import-attributes", attrs, "--json"});
  INFO(ai.out << ai.err);
  REQUIRE(ai.exit_code == 0);
  const auto rec = d.dir() + "/activity.jsonl";
  spit(rec, activity_of("vigil-amy", 5) + activity_of("vigil-bo", 3) + activity_of("vigil-cy", 4));
  auto imp = d.ctl({"import-activity", rec, "--source", "laptop-fleet"});
  INFO(imp.out << imp.err);
  REQUIRE(imp.exit_code == 0);

  // The bootstrap admin sees real names (privacy by role, it holds reveal_names).
  auto amy = events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--all", "--json"}));
  CHECK(amy.size() == 7);
  CHECK(users_in(amy) == std::set<std::string>{"vigil-amy"});
  for (std::size_t i = 1; i < amy.size(); ++i) CHECK(str(amy[i - 1], "time") >= str(amy[i], "time"));  // newest first
  CHECK(events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--type", "print.", "--json"})).size() == 2);
  CHECK(events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--type", "exfil.removable", "--json"})).size() == 5);
  CHECK(events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--since", "5d", "--json"})).size() == 5);
  CHECK(events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--until", "5d", "--json"})).size() == 2);
  CHECK(events_from(d.ctl({"activity", "query", "--since", "5d", "--channel", "removable", "--json"})).size() == 12);
  CHECK(events_from(d.ctl({"activity", "query", "--all", "--json"})).size() == 18);  // 7 + 5 + 6

  // Paging: pages of 2 follow signed cursors; together they are the whole answer, once each.
  auto first = d.ctl({"activity", "query", "--user", "vigil-amy", "--limit", "2", "--count", "--json"});
  REQUIRE(first.exit_code == 0);
  CHECK(lines_of(first.out).size() == 2);
  CHECK(first.err.find("2 of 7 matching events shown") != std::string::npos);
  const auto at = first.err.find("--cursor ");
  REQUIRE(at != std::string::npos);
  const std::string cursor = first.err.substr(at + 9, first.err.find(' ', at + 9) - at - 9);
  auto second = events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--limit", "2", "--cursor", cursor, "--json"}));
  REQUIRE(second.size() == 2);
  CHECK(key_of(second[0]) == key_of(amy[2]));
  // The cursor is bound to its filters: another user's query refuses it (exit 2, a 400).
  auto foreign = d.ctl({"activity", "query", "--user", "vigil-bo", "--limit", "2", "--cursor", cursor});
  CHECK(foreign.exit_code == 2);
  CHECK(foreign.err.find("cursor") != std::string::npos);
  std::set<Key> seen;
  auto paged = events_from(d.ctl({"activity", "query", "--user", "vigil-amy", "--limit", "2", "--all", "--json"}));
  for (const auto& e : paged) seen.insert(key_of(e));
  CHECK(paged.size() == 7);
  CHECK(seen.size() == 7);
  // A bad filter is a usage error naming it.
  auto bad = d.ctl({"activity", "query", "--since", "yesterday-ish"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("since") != std::string::npos);

  // Exports: CSV for one user, JSON lines for a type over everyone.
  const std::string csv = d.dir() + "/amy.csv";
  auto ex = d.ctl({"activity", "export", "--format", "csv", "--user", "vigil-amy", "-o", csv, "--json"});
  INFO(ex.out << ex.err);
  REQUIRE(ex.exit_code == 0);
  CHECK(ex.err.find("7 / 7 rows (100%)") != std::string::npos);
  const std::string csv_text = slurp(csv);
  CHECK(csv_text.rfind("time,device_id,seq,user,type,channel,path,", 0) == 0);
  CHECK(csv_rows(csv_text) == 8);  // header + 7
  CHECK(csv_text.find("vigil-bo") == std::string::npos);
  const std::string jsonl = d.dir() + "/usb.jsonl";
  auto ex2 = d.ctl({"activity", "export", "--format", "jsonl", "--type", "exfil.", "-o", jsonl});
  INFO(ex2.out << ex2.err);
  REQUIRE(ex2.exit_code == 0);
  auto exported = lines_of(slurp(jsonl));
  CHECK(exported.size() == 12);
  CHECK(users_in(exported) == std::set<std::string>{"vigil-amy", "vigil-bo", "vigil-cy"});

  // Population scope and pseudonyms: investigators scoped to Sales, and unscoped ones; neither
  // may see names. An auditor reads the audit log.
  auto grp = d.ctl({"role-groups", "create", "sales-investigators", "--role", "investigator", "--scope-attribute",
                    "department", "--scope-value", "Sales"});
  INFO(grp.out << grp.err);
  REQUIRE(grp.exit_code == 0);
  const Analyst sales = make_account(d, "inv-sales", {"sales-investigators"});
  const Analyst fleet = make_account(d, "inv-fleet", {"investigators"});
  const Analyst auditor = make_account(d, "aud", {"auditors"});

  auto everyone = fleet.ctl({"activity", "query", "--all", "--json"});
  REQUIRE(everyone.exit_code == 0);
  CHECK(everyone.out.find("vigil-") == std::string::npos);  // users, /home/<user>/ paths, print titles
  auto all_pseudo = lines_of(everyone.out);
  CHECK(all_pseudo.size() == 18);  // 7 + 5 + 6
  const auto pseudonyms = users_in(all_pseudo);
  REQUIRE(pseudonyms.size() == 3);
  for (const auto& p : pseudonyms) {
    CHECK(p.rfind("user-", 0) == 0);
    CHECK(p.size() == 17);
  }
  // Which pseudonym is whose: the fleet investigator sees each user's events by pseudonym.
  std::map<std::string, std::string> pseudonym_of;
  for (const auto& real : {"vigil-amy", "vigil-bo", "vigil-cy"}) {
    auto one = events_from(d.ctl({"activity", "query", "--user", real, "--limit", "1", "--json"}));
    REQUIRE(one.size() == 1);
    for (const auto& e : all_pseudo)
      if (key_of(e) == key_of(one[0])) pseudonym_of[real] = str(e, "user");
  }
  REQUIRE(pseudonym_of.size() == 3);

  auto scoped_all = sales.ctl({"activity", "query", "--all", "--count", "--json"});
  INFO(scoped_all.out << scoped_all.err);
  REQUIRE(scoped_all.exit_code == 0);
  CHECK(scoped_all.out.find("vigil-") == std::string::npos);
  auto scoped = lines_of(scoped_all.out);
  CHECK(scoped.size() == 12);  // amy 7 + bo 5, not cy
  CHECK(users_in(scoped) == std::set<std::string>{pseudonym_of["vigil-amy"], pseudonym_of["vigil-bo"]});
  CHECK(scoped_all.err.find("12 of 12") != std::string::npos);  // the total is scoped too
  // Filtering by the pseudonym works; by the real name, or by someone outside, finds nothing.
  auto by_pseudonym = events_from(sales.ctl({"activity", "query", "--user", pseudonym_of["vigil-amy"], "--all", "--json"}));
  CHECK(by_pseudonym.size() == 7);
  CHECK(users_in(by_pseudonym) == std::set<std::string>{pseudonym_of["vigil-amy"]});
  CHECK(events_from(sales.ctl({"activity", "query", "--user", pseudonym_of["vigil-amy"], "--since", "5d", "--json"})).size() == 5);
  CHECK(events_from(sales.ctl({"activity", "query", "--user", "vigil-amy", "--json"})).empty());
  CHECK(events_from(sales.ctl({"activity", "query", "--user", pseudonym_of["vigil-cy"], "--json"})).empty());
  CHECK(events_from(fleet.ctl({"activity", "query", "--user", pseudonym_of["vigil-cy"], "--json"})).size() == 6);

  // The scoped export holds the scoped population under pseudonyms, in CSV and JSON lines.
  const std::string sales_jsonl = d.dir() + "/sales.jsonl";
  auto sx = sales.ctl({"activity", "export", "--format", "jsonl", "-o", sales_jsonl});
  INFO(sx.out << sx.err);
  REQUIRE(sx.exit_code == 0);
  const std::string sales_text = slurp(sales_jsonl);
  CHECK(sales_text.find("vigil-") == std::string::npos);
  auto sales_rows = lines_of(sales_text);
  CHECK(sales_rows.size() == 12);
  CHECK(users_in(sales_rows) == std::set<std::string>{pseudonym_of["vigil-amy"], pseudonym_of["vigil-bo"]});
  const std::string sales_csv = d.dir() + "/sales-bo.csv";
  auto sc = sales.ctl({"activity", "export", "--format", "csv", "--user", pseudonym_of["vigil-bo"], "-o", sales_csv});
  INFO(sc.out << sc.err);
  REQUIRE(sc.exit_code == 0);
  const std::string bo_csv = slurp(sales_csv);
  CHECK(csv_rows(bo_csv) == 6);  // header + 5
  CHECK(bo_csv.find("vigil-") == std::string::npos);
  CHECK(bo_csv.find(pseudonym_of["vigil-bo"]) != std::string::npos);

  // The investigators hold no read_audit; the auditor sees every export, started and downloaded.
  CHECK(sales.ctl({"audit", "list"}).exit_code != 0);
  auto log = auditor.ctl({"audit", "list", "--action", "export", "--limit", "100", "--json"});
  INFO(log.out << log.err);
  REQUIRE(log.exit_code == 0);
  std::map<std::string, int> started, downloaded;
  for (const auto& r : lines_of(log.out)) {
    if (str(r, "target").rfind("activity-", 0) != 0) continue;
    if (str(r, "detail").rfind("downloaded ", 0) == 0) ++downloaded[str(r, "actor")];
    else ++started[str(r, "actor")];
  }
  CHECK(started["admin"] == 2);
  CHECK(downloaded["admin"] == 2);
  CHECK(started["inv-sales"] == 2);
  CHECK(downloaded["inv-sales"] == 2);
  CHECK(auditor.ctl({"audit", "verify"}).exit_code == 0);

  // Scope is per permission: the Sales investigator joins the (unscoped) Auditors. It now reads
  // the whole audit log, but its activity is still Sales only.
  auto join = d.ctl({"role-groups", "add-member", "auditors", "inv-sales"});
  INFO(join.out << join.err);
  REQUIRE(join.exit_code == 0);
  auto own_log = sales.ctl({"audit", "list", "--action", "export", "--limit", "100", "--json"});
  INFO(own_log.err);
  REQUIRE(own_log.exit_code == 0);
  std::set<std::string> actors;
  for (const auto& r : lines_of(own_log.out)) actors.insert(str(r, "actor"));
  CHECK(actors.count("admin") == 1);
  auto still = sales.ctl({"activity", "query", "--all", "--json"});
  REQUIRE(still.exit_code == 0);
  CHECK(users_in(lines_of(still.out)) == std::set<std::string>{pseudonym_of["vigil-amy"], pseudonym_of["vigil-bo"]});
  auto who = sales.ctl({"whoami", "--json"});
  REQUIRE(who.exit_code == 0);
  auto scoped_perms = json::parse(who.out).at("scoped_permissions").as_array();
  CHECK(std::find(scoped_perms.begin(), scoped_perms.end(), json::value("investigate_activity")) != scoped_perms.end());
  CHECK(std::find(scoped_perms.begin(), scoped_perms.end(), json::value("read_audit")) == scoped_perms.end());
}

TEST_CASE("no real name in any answer to pseudonymised callers over TLS, free text included", "[activity_api][privacy]") {
  Deployment d("privacy-text");
  d.start_collector();
  // Names in free text everywhere: the HR detail names a colleague, the manager, the file names.
  const auto hr = d.dir() + "/hr.csv";
  spit(hr, "user,event,date,detail\nvigil-amy,resignation," + days_ago(4) + ",vigil-amy told vigil-cy she is leaving\n");
  ctl_ok(d, {"hr", "import", hr, "--json"});
  const auto attrs = d.dir() + "/attrs.csv";
  spit(attrs, "user,department,region,manager,email\nvigil-amy,Sales,EMEA,vigil-cy,vigil-amy@corp.example\n"
              "vigil-cy,Engineering,EMEA,,cy@corp.example\n");
  ctl_ok(d, {"users", "import-attributes", attrs, "--json"});
  const auto policy = d.dir() + "/departing.json";
  spit(policy, R"({"name": "Departing users taking data", "template": "data_theft_departing_users"})");
  create_policy(d, policy);
  std::ostringstream rec;
  for (int i = 0; i < 6; ++i)
    rec << R"({"type": "exfil.removable", "time": ")" << hours_ago(i + 1)
        << R"(", "user": "vigil-amy", "file": {"path": "/media/stick/vigil-amy-plan-)" << i
        << R"(.docx", "size": "4000", "source_path": "/home/vigil-amy/plan.docx", "volume": {"mount_point": "/media/stick", )"
        << R"("removable": true}, "classification": {"status": "scanned", "findings": [{"type": "credit_card", "count": 2, )"
        << R"("confidence": "high"}]}}})" << "\n";
  spit(d.dir() + "/amy.jsonl", rec.str());
  ctl_ok(d, {"import-activity", d.dir() + "/amy.jsonl", "--source", "laptop-amy"});
  std::vector<json::object> amy;
  REQUIRE(eventually([&] { return !(amy = alerts_for(d, "vigil-amy")).empty(); }, 30s, 250ms));
  const std::string alert_id = str(amy[0], "id");
  auto conf = ctl_ok(d, {"alerts", "confirm", alert_id, "--title", "vigil-amy copying plans", "--json"});
  const std::string case_id = str(json::parse(conf).at("case").as_object(), "id");
  REQUIRE(!case_id.empty());
  ctl_ok(d, {"cases", "note", case_id, "--text", "vigil-cy (manager of vigil-amy) confirms no business need", "--json"});
  // The data really holds the names: callers shown real names read them.
  CHECK(ctl_ok(d, {"hr", "list", "--json"}).find("vigil-amy told vigil-cy") != std::string::npos);
  CHECK(ctl_ok(d, {"cases", "show", case_id, "--json"}).find("vigil-cy (manager of vigil-amy)") != std::string::npos);

  const Analyst analyst = make_account(d, "ana", {"analysts"});
  const Analyst investigator = make_account(d, "ivy", {"investigators"});
  const Analyst people = make_account(d, "hr-admin", {"admin"});
  std::vector<std::pair<const Analyst*, std::vector<std::string>>> reads{
      {&analyst, {"alerts", "list", "--json"}},
      {&analyst, {"alerts", "show", alert_id, "--json"}},
      {&analyst, {"users", "in-scope", "--json"}},
      {&analyst, {"cases", "list", "--json"}},
      {&analyst, {"cases", "show", case_id, "--json"}},
      {&analyst, {"cases", "activity", case_id, "--json"}},
      {&investigator, {"cases", "files", case_id, "--json"}},
      {&investigator, {"activity", "query", "--all", "--json"}},
      {&investigator, {"events", "--json"}},
      {&people, {"hr", "list", "--json"}},
      {&people, {"users", "attributes", "--json"}},
  };
  for (const auto& [who, args] : reads) {
    auto r = who->ctl(args);
    INFO("vigilctl " << args[0] << " " << args[1] << ": " << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.size() > 2);
    CHECK(r.out.find("vigil-amy") == std::string::npos);
    CHECK(r.out.find("vigil-cy") == std::string::npos);
    CHECK(r.out.find("@corp.example") == std::string::npos);
  }
  CHECK(analyst.ctl({"alerts", "show", alert_id, "--json"}).out.find("told user-") != std::string::npos);
}
