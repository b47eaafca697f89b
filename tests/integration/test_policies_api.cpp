// Policies, DLP rules and the HR connector through the real collector binary and vigilctl over
// HTTPS with the admin token: a policy for each of the eight templates is accepted with health
// warnings for its missing prerequisites; the warnings go away as HR data (vigilctl and the
// watched drop directory), DLP rules and priority groups arrive; bad CSV rows are reported by
// line while good rows import; unknown fields and bad JSON are 400; everything survives a
// restart. Tag: [policies].
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kTemplates{
    "data_theft_departing_users",          "general_data_leaks",
    "data_leaks_priority_users",           "data_leaks_disgruntled_users",
    "general_security_violations",         "security_violations_departing_users",
    "security_violations_priority_users",  "security_violations_disgruntled_users"};

std::vector<std::string> warnings_of(const json::object& p) {
  std::vector<std::string> out;
  for (const auto& w : p.at("health").at("warnings").as_array()) out.emplace_back(w.as_string());
  return out;
}

bool mentions(const std::vector<std::string>& ws, const std::string& part) {
  for (const auto& w : ws)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

json::object policy(Deployment& d, const std::string& id) {
  auto r = d.ctl({"policies", "show", id, "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

std::uint64_t num(const json::value& v) { return v.to_number<std::uint64_t>(); }

// A program on PATH, or "" (run_command does not search PATH).
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && fs::exists(dir + "/" + name)) return dir + "/" + name;
  return "";
}

}  // namespace

TEST_CASE("policies for all templates, health follows HR, DLP and attribute imports", "[policies]") {
  Deployment d("policies-api");
  // Poll the drop directories every second so the test does not wait long.
  spit(d.data_dir() + "/collector.toml", slurp(d.data_dir() + "/collector.toml") + "\n[import]\npoll_seconds = 1\n");
  d.start_collector();

  auto templates = d.ctl({"templates", "list", "--json"});
  REQUIRE(templates.exit_code == 0);
  CHECK(std::count(templates.out.begin(), templates.out.end(), '\n') == 8);

  // One policy per template; each is accepted and says what it lacks.
  std::map<std::string, std::string> id_of;
  for (const auto& t : kTemplates) {
    const std::string file = d.dir() + "/" + t + ".json";
    spit(file, R"({"name":"policy )" + t + R"(","template":")" + t + R"(","priority_paths":["/srv/projects/**"]})");
    auto r = d.ctl({"policies", "create", file, "--json"});
    INFO(t << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    auto p = json::parse(r.out).as_object();
    id_of[t] = std::string(p.at("id").as_string());
    CHECK(num(p.at("version")) == 1);
  }
  auto health = [&](const std::string& t) { return warnings_of(policy(d, id_of[t])); };
  CHECK(mentions(health("data_theft_departing_users"), "no HR resignation data imported"));
  CHECK(mentions(health("security_violations_departing_users"), "no HR resignation data imported"));
  CHECK(mentions(health("data_leaks_disgruntled_users"), "no HR performance data imported"));
  CHECK(mentions(health("security_violations_disgruntled_users"), "no HR performance data imported"));
  CHECK(mentions(health("general_data_leaks"), "no enabled DLP rule"));
  CHECK(mentions(health("data_leaks_priority_users"), "no enabled DLP rule"));
  CHECK(mentions(health("data_leaks_priority_users"), "no priority user groups imported"));
  CHECK(mentions(health("security_violations_priority_users"), "no priority user groups imported"));
  CHECK(health("general_security_violations").empty());
  // The table view shows the same.
  auto table = d.ctl({"policies", "list"});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("no HR resignation data imported") != std::string::npos);

  // HR import by vigilctl: good rows import, bad rows are listed by line, exit 1.
  const std::string hr_file = d.dir() + "/hr.csv";
  spit(hr_file,
       "user,event,date,detail\n"
       "alice,resignation,2026-11-01,\"leaving for a competitor, \"\"Acme\"\"\"\n"
       "alice,last_working_date,2026-11-30,\n"
       "bob,resigned,2026-11-01,\n"
       "carol,resignation,2026-02-30,\n"
       "dave,resignation\n");
  auto imp = d.ctl({"hr", "import", hr_file, "--json"});
  INFO(imp.err);
  CHECK(imp.exit_code == 1);
  auto report = json::parse(imp.out).as_object();
  CHECK(num(report.at("imported")) == 2);
  CHECK(num(report.at("rejected")) == 3);
  const auto& errors = report.at("errors").as_array();
  REQUIRE(errors.size() == 3);
  CHECK(num(errors[0].at("line")) == 4);
  CHECK(std::string(errors[0].at("reason").as_string()).find("unknown event 'resigned'") != std::string::npos);
  CHECK(num(errors[1].at("line")) == 5);
  CHECK(std::string(errors[1].at("reason").as_string()).find("bad date") != std::string::npos);
  CHECK(num(errors[2].at("line")) == 6);
  CHECK(std::string(errors[2].at("reason").as_string()).find("wrong column count") != std::string::npos);
  // Human form names file:line on stderr.
  auto again = d.ctl({"hr", "import", hr_file});
  CHECK(again.err.find("hr.csv:4: unknown event") != std::string::npos);
  CHECK(again.out.find("0 new, 0 updated, 2 unchanged, 3 rejected") != std::string::npos);  // idempotent
  auto hr_list = d.ctl({"hr", "list", "--json"});
  REQUIRE(hr_list.exit_code == 0);
  CHECK(std::count(hr_list.out.begin(), hr_list.out.end(), '\n') == 2);
  CHECK(hr_list.out.find(R"(leaving for a competitor, \"Acme\")") != std::string::npos);

  CHECK_FALSE(mentions(health("data_theft_departing_users"), "HR"));
  CHECK_FALSE(mentions(health("security_violations_departing_users"), "HR"));
  CHECK(mentions(health("security_violations_disgruntled_users"), "no HR performance data imported"));

  // Performance data through the watched drop directory.
  const std::string drop = d.data_dir() + "/import/hr";
  REQUIRE(fs::is_directory(drop));
  spit(drop + "/.perf.tmp", "user,event,date,detail\nerin,performance_review,2026-10-15,rating 1 of 5\nfrank,demotion,2026-10-20,\n");
  fs::rename(drop + "/.perf.tmp", drop + "/perf.csv");  // writers rename into place
  REQUIRE(eventually([&] { return fs::exists(drop + "/done/perf.csv"); }, 15s));
  CHECK_FALSE(fs::exists(drop + "/perf.csv"));
  CHECK(health("security_violations_disgruntled_users").empty());
  CHECK(slurp(d.collector().log_path()).find("msg=imported kind=HR file=perf.csv imported=2") != std::string::npos);

  // A bad file dropped: moved to failed/ with a line-numbered report; its good row imported.
  spit(drop + "/bad.csv", "user,event,date\ngina,improvement_plan,2026-10-01\nhank,fired,2026-10-01\n");
  REQUIRE(eventually([&] { return fs::exists(drop + "/failed/bad.csv.errors.txt"); }, 15s));
  CHECK(slurp(drop + "/failed/bad.csv.errors.txt").find("line 3: unknown event 'fired'") != std::string::npos);
  CHECK(d.ctl({"hr", "list", "--user", "gina", "--json"}).out.find("improvement_plan") != std::string::npos);

  // A high-severity DLP rule satisfies the data leak templates.
  const std::string dlp_file = d.dir() + "/dlp.json";
  spit(dlp_file, R"({"name":"cards to USB","info_types":{"credit_card":5},"channels":["removable"],"severity":"high"})");
  auto dlp = d.ctl({"dlp-rules", "create", dlp_file, "--json"});
  INFO(dlp.err);
  REQUIRE(dlp.exit_code == 0);
  const std::string dlp_id(json::parse(dlp.out).at("id").as_string());
  CHECK(health("general_data_leaks").empty());
  CHECK(health("data_leaks_disgruntled_users").empty());
  CHECK(mentions(health("data_leaks_priority_users"), "no priority user groups"));

  // Priority groups through the attributes import.
  const std::string attr_file = d.dir() + "/attributes.csv";
  spit(attr_file, "user,department,region,manager,priority_groups\nivy,Research,EU,alice,execs;researchers\n");
  auto attrs = d.ctl({"users", "import-attributes", attr_file, "--json"});
  INFO(attrs.err);
  REQUIRE(attrs.exit_code == 0);
  CHECK(num(json::parse(attrs.out).at("imported")) == 1);
  for (const auto& t : kTemplates) {
    INFO(t);
    CHECK(health(t).empty());
  }
  // Deleting the only DLP rule brings its warning back.
  REQUIRE(d.ctl({"dlp-rules", "delete", dlp_id}).exit_code == 0);
  CHECK(mentions(health("general_data_leaks"), "no enabled DLP rule"));

  // Validate stores nothing and reports errors (exit 2) or health (exit 0).
  const std::string probe = d.dir() + "/probe.json";
  spit(probe, R"({"name":"probe","template":"general_data_leaks"})");
  auto val = d.ctl({"policies", "validate", probe});
  CHECK(val.exit_code == 0);
  CHECK(val.out.find("warning: no enabled DLP rule") != std::string::npos);
  spit(probe, R"({"name":"probe","template":"general_data_leaks","colour":"red"})");
  val = d.ctl({"policies", "validate", probe, "--json"});
  CHECK(val.exit_code == 2);
  CHECK(val.out.find("unknown field 'colour'") != std::string::npos);
  spit(probe, R"({"name":"probe","template":)");
  val = d.ctl({"policies", "validate", probe, "--json"});
  CHECK(val.exit_code == 2);
  CHECK(val.out.find("not valid JSON") != std::string::npos);

  // Unknown field and wrong type on create/update: 400 naming the field, nothing stored.
  spit(probe, R"({"name":"probe","template":"general_data_leaks","colour":"red"})");
  auto bad = d.ctl({"policies", "create", probe});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("(400)") != std::string::npos);
  CHECK(bad.err.find("unknown field 'colour'") != std::string::npos);
  spit(probe, R"({"name":"x","template":"general_data_leaks","indicators":{"print.job":{"threshold":"often"}}})");
  bad = d.ctl({"policies", "update", id_of["general_data_leaks"], probe});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("indicators.print.job.threshold") != std::string::npos);
  CHECK(num(policy(d, id_of["general_data_leaks"]).at("version")) == 1);
  // Raw HTTP: bad JSON is a 400 too.
  const std::string curl_bin = on_path("curl");
  if (curl_bin.empty()) {
    WARN("SKIPPED raw-HTTP bad JSON check: curl is not installed");
  } else {
    auto curl = run_command({curl_bin, "-sS", "--cacert", d.ca(), "-H", "Authorization: Bearer " + d.admin_token(),
                             "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", "{\"name\":",
                             "https://127.0.0.1:" + std::to_string(d.api_port()) + "/api/v1/policies"});
    INFO(curl.err);
    CHECK(curl.out == "400");
  }
  auto listed = d.ctl({"policies", "list", "--json"});
  CHECK(std::count(listed.out.begin(), listed.out.end(), '\n') == 8);

  // Update and delete.
  spit(probe, R"J({"name":"leaks (tuned)","template":"general_data_leaks","min_risk_threshold":40,
                  "indicators":{"print.job":{"weight":9,"threshold":5}}})J");
  auto upd = d.ctl({"policies", "update", id_of["general_data_leaks"], probe, "--json"});
  INFO(upd.err);
  REQUIRE(upd.exit_code == 0);
  auto tuned = json::parse(upd.out).as_object();
  CHECK(num(tuned.at("version")) == 2);
  CHECK(num(tuned.at("indicators").at("print.job").at("threshold")) == 5);
  REQUIRE(d.ctl({"policies", "delete", id_of["general_security_violations"]}).exit_code == 0);
  CHECK(d.ctl({"policies", "show", id_of["general_security_violations"]}).exit_code == 2);

  // Everything survives a restart.
  d.stop_collector();
  d.start_collector();
  auto after = policy(d, id_of["general_data_leaks"]);
  CHECK(after.at("name").as_string() == "leaks (tuned)");
  CHECK(num(after.at("version")) == 2);
  listed = d.ctl({"policies", "list", "--json"});
  CHECK(std::count(listed.out.begin(), listed.out.end(), '\n') == 7);
  CHECK(health("data_theft_departing_users").empty());
}
