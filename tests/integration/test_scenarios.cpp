// Insider-risk stories end to end, through the real collector, the real agent and real activity:
// local users made for the test act with their own audit login uid (the agent attributes activity
// to the login user), HR rows and user attributes are imported with vigilctl, policies are created
// from templates with vigilctl, files are copied with cp(1) onto an ext4 loop device the agent
// treats as removable, and the firewall is changed with nft(8) in a network namespace the agent
// watches. Each story asserts the alert that must come (with the trigger and reasons that explain
// it) and, just as much, the alerts that must not: a user with the same habit but no trigger, and
// quiet users whose harmless activity reached the collector and stayed unscored. Needs root.
// Tag: [scenario]. Stories: docs/SCENARIOS.md.
#include <fcntl.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/scenario_support.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct LoopStick {
  std::string image, node, point;
  bool mounted = false;
  LoopStick(const std::string& dir, const std::string& mount_point) : image(dir + "/stick.img"), point(mount_point) {
    { std::ofstream(image).flush(); }
    std::filesystem::resize_file(image, 32 << 20);
    if (!sh(find_program("mkfs.ext4") + " -q -F -L SCENARIO '" + image + "'")) return;
    auto r = run_command({find_program("losetup"), "-f", "--show", image});
    if (r.exit_code == 0 && r.out.rfind("/dev/loop", 0) == 0) node = trimmed(r.out);
  }
  bool mount() {
    std::filesystem::create_directories(point);
    mounted = !node.empty() && ::mount(node.c_str(), point.c_str(), "ext4", 0, nullptr) == 0;
    if (mounted) std::filesystem::permissions(point, std::filesystem::perms::all);
    return mounted;
  }
  ~LoopStick() {
    if (mounted) ::umount2(point.c_str(), MNT_DETACH);
    if (!node.empty()) run_command({find_program("losetup"), "-d", node});
  }
  LoopStick(const LoopStick&) = delete;
  LoopStick& operator=(const LoopStick&) = delete;
};

bool preconditions(bool need_stick) {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (local users, audit login uid, loop devices, netns)");
    return false;
  }
  if (find_program("useradd").empty() || find_program("userdel").empty()) {
    WARN("SKIPPED: useradd/userdel (passwd) not installed: no local users for the story");
    return false;
  }
  if (need_stick && (find_program("losetup").empty() || find_program("mkfs.ext4").empty())) {
    WARN("SKIPPED: losetup (util-linux) or mkfs.ext4 (e2fsprogs) not installed");
    return false;
  }
  return true;
}

// One deployment with an agent whose removable media is a loop device: `home` holds the users'
// local files, the stick is mounted under `media`.
struct StickWorld {
  Deployment d;
  std::string adir, device, home, media;
  std::unique_ptr<LoopStick> stick;
  Process agent;
  bool ready = false;
  explicit StickWorld(const std::string& tag) : d(tag) {
    d.start_collector();
    adir = d.enroll_agent("a1");
    set_key(adir, "removable_devices", "[\"/dev/loop*\"]");
    device = d.device_id(adir);
    home = d.dir() + "/home";
    media = d.dir() + "/media";
    std::filesystem::create_directories(home);
    std::filesystem::create_directories(media);
    stick = std::make_unique<LoopStick>(d.dir(), media + "/STICK");
  }
  // Starts the agent and mounts the stick; false (after a WARN) when no loop device is available.
  bool start() {
    if (stick->node.empty()) {
      WARN("SKIPPED: no loop device could be attached (losetup -f --show failed)");
      return false;
    }
    agent = d.start_agent(adir, {home, media});
    std::this_thread::sleep_for(1500ms);  // capture marks are placed during start-up
    REQUIRE(agent.running());
    REQUIRE(stick->mount());
    const bool seen = eventually([&] {
      for (const auto& e : d.events(device, "volume.mounted"))
        if (str(e, "mount_point") == stick->point) return true;
      return false;
    }, 20s);
    INFO("agent log: " << slurp(adir + ".log"));
    REQUIRE(seen);
    ready = true;
    return true;
  }
  std::string ctl_file(const std::string& name, const std::string& content) {
    const std::string p = d.dir() + "/" + name;
    spit(p, content);
    return p;
  }
};

}  // namespace

TEST_CASE("a departing user copying a project to a stick gets a High alert; the same habit without notice and a quiet user do not", "[scenario]") {
  if (!preconditions(true)) return;
  LocalUser dana("vigil-dana"), erin("vigil-erin"), quinn("vigil-quinn");
  REQUIRE(dana.ok);
  REQUIRE(erin.ok);
  REQUIRE(quinn.ok);
  StickWorld w("scenario-departing");
  auto& d = w.d;

  // The HR feed: dana resigned four days ago. Erin and quinn have no HR rows.
  const auto hr = w.ctl_file("hr.csv", "user,event,date,detail\nvigil-dana,resignation," + days_ago(4) +
                                           ",\"leaving for a competitor\"\n");
  auto imp = d.ctl({"hr", "import", hr, "--json"});
  INFO(imp.out << imp.err);
  REQUIRE(imp.exit_code == 0);
  create_policy(d, w.ctl_file("departing.json",
                              R"({"name": "Departing users taking data", "template": "data_theft_departing_users"})"));

  // The project: 30 files, 3 of them with card numbers.
  const std::string project = w.home + "/project";
  std::filesystem::create_directories(project + "/src");
  for (int i = 0; i < 30; ++i)
    spit(project + (i % 2 ? "/src/" : "/") + "file" + std::to_string(i) + ".txt",
         i % 10 == 0 ? kCards : "design note " + std::to_string(i) + "\n");
  spit(w.home + "/quinn-notes.txt", "first draft\n");

  if (!w.start()) return;
  const std::string stick = w.stick->point;

  // Quiet quinn edits local files; erin copies the same project with no trigger behind her.
  for (int i = 0; i < 3; ++i) {
    int rc = run_as(quinn.uid, {"/bin/sh", "-c", "echo 'edit " + std::to_string(i) + "' >> '" + w.home + "/quinn-notes.txt'"});
    if (rc == -1) {
      WARN("SKIPPED: the audit login uid cannot be set here (already set and immutable): activity cannot be attributed to the story's users");
      return;
    }
    REQUIRE(rc == 0);
  }
  REQUIRE(run_as(erin.uid, {find_program("cp"), "-r", project, stick + "/erin-project"}) == 0);
  // All of erin's copy is stored before dana starts: her single copies and the file.bulk that
  // counts the rest of the burst once it goes quiet.
  REQUIRE(eventually([&] {
    return events_by(d, w.device, "exfil.removable", erin.name) >= 3 && events_by(d, w.device, "file.bulk", erin.name) == 1;
  }, 30s));
  REQUIRE(eventually([&] { return events_by(d, w.device, "file.write", quinn.name) >= 1; }, 30s));

  // Dana copies it after giving notice.
  REQUIRE(run_as(dana.uid, {find_program("cp"), "-r", project, stick + "/dana-project"}) == 0);
  const auto copied_at = std::chrono::steady_clock::now();
  std::vector<json::object> mine;
  const bool alerted = eventually([&] {
    mine = alerts_for(d, dana.name);
    return !mine.empty() && str(mine[0], "severity") == "high";
  }, 30s, 100ms);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - copied_at);
  if (std::getenv("VIGIL_SCENARIO_VERBOSE") != nullptr) std::cout << "dana's High alert " << took.count() << " ms after the copy\n";
  INFO("agent log: " << slurp(w.adir + ".log"));
  INFO("alerts: " << [&] { std::string s; for (auto& a : alerts(d)) s += json::serialize(a) + "\n"; return s; }());
  REQUIRE(alerted);
  REQUIRE(mine.size() == 1);
  CHECK(took < 10s);  // "within a few seconds": upload interval + engine, measured ~1 s here
  // The rest of the burst arrives as one file.bulk once the copy goes quiet; it joins the alert.
  json::object shown;
  const bool bulk_joined = eventually([&] {
    shown = show_alert(d, str(mine[0], "id"), false);
    for (const auto& v : shown.at("activities").as_array())
      if (str(v.as_object(), "indicator") == "file.bulk") return true;
    return false;
  }, 20s, 250ms);
  shown = show_alert(d, str(mine[0], "id"));
  INFO(json::serialize(shown));
  CHECK(bulk_joined);
  const auto& trig = shown.at("trigger").as_object();
  CHECK(str(trig, "kind") == "hr.resignation");
  CHECK(str(trig, "detail").find("resignation") != std::string::npos);
  std::string why;
  CHECK(explained_by(shown, "exfil.removable", why, "file.bulk"));
  INFO(why);
  // The card files are what they are: sensitive content adds its own stated points.
  bool sensitive_reason = false;
  for (const auto& v : shown.at("activities").as_array())
    for (const auto& r : v.at("reasons").as_array())
      if (str(r.as_object(), "reason").find("sensitive content") != std::string::npos) sensitive_reason = true;
  CHECK(sensitive_reason);
  CHECK(shown.at("score").to_number<double>() >= 80);  // 4 x the template's threshold of 20

  // Those without a trigger stay quiet: erin's copies were evaluated (the engine takes batches in
  // commit order and dana's came later) and scored nothing.
  CHECK(alerts_for(d, erin.name).empty());
  CHECK(alerts_for(d, quinn.name).empty());
  CHECK(alerts(d).size() == 1);
  auto scope = d.ctl({"users", "--in-scope", "--json"});
  REQUIRE(scope.exit_code == 0);
  auto in_scope = lines_of(scope.out);
  REQUIRE(in_scope.size() == 1);
  CHECK(str(in_scope[0], "user") == dana.name);
}

namespace {

struct NetNs {
  std::string name, path;
  bool ok = false;
  NetNs() {
    name = "vigil-sc-" + std::to_string(::getpid());
    run_command({find_program("ip"), "netns", "del", name});
    ok = run_command({find_program("ip"), "netns", "add", name}).exit_code == 0;
    path = "/run/netns/" + name;
  }
  ~NetNs() {
    if (ok) run_command({find_program("ip"), "netns", "del", name});
  }
  std::vector<std::string> nft(std::vector<std::string> args) const {
    args.insert(args.begin(), {find_program("ip"), "netns", "exec", name, find_program("nft")});
    return args;
  }
};

}  // namespace

TEST_CASE("a disgruntled user who switches the firewall off gets a security alert; quiet users stay quiet", "[scenario]") {
  if (!preconditions(false)) return;
  if (find_program("ip").empty() || find_program("nft").empty()) {
    WARN("SKIPPED: ip (iproute2) or nft (nftables) not installed");
    return;
  }
  NetNs ns;
  if (!ns.ok) {
    WARN("SKIPPED: ip netns add failed");
    return;
  }
  LocalUser fred("vigil-fred"), quinn("vigil-quinn"), gina("vigil-gina");
  REQUIRE(fred.ok);
  REQUIRE(quinn.ok);
  REQUIRE(gina.ok);

  Deployment d("scenario-disgruntled");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  set_key(adir, "security_netns", "\"" + ns.path + "\"");
  const std::string device = d.device_id(adir);
  const std::string home = d.dir() + "/home";
  std::filesystem::create_directories(home);
  spit(home + "/notes.txt", "notes\n");

  // A firewall exists before the story (made by root, who has no HR rows).
  REQUIRE(run_command(ns.nft({"add", "table", "inet", "corp"})).exit_code == 0);
  REQUIRE(run_command(ns.nft({"add", "chain", "inet", "corp", "input", "{ type filter hook input priority 0; }"})).exit_code == 0);
  REQUIRE(run_command(ns.nft({"add", "rule", "inet", "corp", "input", "tcp", "dport", "23", "drop"})).exit_code == 0);

  // HR: fred had a bad review and is on an improvement plan; gina had a review too but only does
  // her work (edits files).
  spit(d.dir() + "/hr.csv", "user,event,date,detail\nvigil-fred,performance_review," + days_ago(10) +
                                ",\"rating 1 of 5\"\nvigil-fred,improvement_plan," + days_ago(3) +
                                ",\nvigil-gina,performance_review," + days_ago(10) + ",\"rating 2 of 5\"\n");
  auto imp = d.ctl({"hr", "import", d.dir() + "/hr.csv", "--json"});
  INFO(imp.out << imp.err);
  REQUIRE(imp.exit_code == 0);
  spit(d.dir() + "/sec.json", R"({"name": "Disgruntled users weakening security", "template": "security_violations_disgruntled_users"})");
  create_policy(d, d.dir() + "/sec.json");

  Process agent = d.start_agent(adir, {home});
  std::this_thread::sleep_for(2000ms);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(agent.running());

  for (const auto* u : {&quinn, &gina}) {
    int rc = run_as(u->uid, {"/bin/sh", "-c", "echo 'edit by " + u->name + "' >> '" + home + "/notes.txt'"});
    if (rc == -1) {
      WARN("SKIPPED: the audit login uid cannot be set here (already set and immutable)");
      return;
    }
    REQUIRE(rc == 0);
  }
  REQUIRE(eventually([&] {
    return events_by(d, device, "file.write", quinn.name) >= 1 && events_by(d, device, "file.write", gina.name) >= 1;
  }, 30s));

  // Fred drops the firewall. nft -i commits each line and stays alive a moment after, so the
  // agent can read the committing process (and its login uid) from /proc.
  REQUIRE(run_as(fred.uid, ns.nft({"-i"}), {"delete table inet corp\n"}) == 0);
  REQUIRE(run_command(ns.nft({"list", "ruleset"})).out.find("corp") == std::string::npos);

  std::vector<json::object> security;
  const bool attributed = eventually([&] {
    security = d.events(device, "security.changed");
    for (const auto& e : security)
      if (str(e, "category") == "firewall" && str(e, "user") == fred.name) return true;
    return false;
  }, 30s);
  INFO("security events: " << [&] { std::string s; for (auto& e : security) s += json::serialize(e) + "\n"; return s; }());
  REQUIRE(attributed);
  for (const auto& e : security)
    if (str(e, "category") == "firewall" && str(e, "user") == fred.name) {
      // What fred did: the table and its rule are gone, nothing was added.
      CHECK(str(e, "diff").find("-\t\ttcp dport 23 drop") != std::string::npos);
      CHECK(u64(e, "lines_removed") >= 1);
      CHECK(u64(e, "lines_added") == 0);
      CHECK(u64(e, "login_uid") == fred.uid);
      CHECK(str(e, "comm") == "nft");
    }

  std::vector<json::object> mine;
  REQUIRE(eventually([&] {
    mine = alerts_for(d, fred.name);
    return !mine.empty();
  }, 10s, 250ms));
  REQUIRE(mine.size() == 1);
  const auto shown = show_alert(d, str(mine[0], "id"));
  INFO(json::serialize(shown));
  CHECK(str(shown.at("trigger").as_object(), "kind") == "hr.performance");
  std::string why;
  CHECK(explained_by(shown, "security.firewall", why));
  INFO(why);
  CHECK(shown.at("score").to_number<double>() >= 15);  // the template's threshold
  const auto& acts = shown.at("activities").as_array();
  REQUIRE(!acts.empty());
  CHECK(str(acts[0].as_object(), "summary").find("firewall") != std::string::npos);

  // Gina is in scope (she had a review) but did nothing against security; quinn is not in scope.
  CHECK(alerts_for(d, gina.name).empty());
  CHECK(alerts_for(d, quinn.name).empty());
  CHECK(alerts(d).size() == 1);
  auto scope = d.ctl({"users", "--in-scope", "--json"});
  REQUIRE(scope.exit_code == 0);
  std::set<std::string> in_scope;
  for (const auto& u : lines_of(scope.out)) in_scope.insert(str(u, "user"));
  CHECK(in_scope == std::set<std::string>{fred.name, gina.name});
}

TEST_CASE("a priority user's single sensitive file to a stick alerts; the same copy by an ordinary user does not", "[scenario]") {
  if (!preconditions(true)) return;
  LocalUser pat("vigil-pat"), erin("vigil-erin"), quinn("vigil-quinn");
  REQUIRE(pat.ok);
  REQUIRE(erin.ok);
  REQUIRE(quinn.ok);
  StickWorld w("scenario-priority");
  auto& d = w.d;

  const auto attrs = w.ctl_file("attrs.csv",
                                "user,department,region,manager,priority_groups\n"
                                "vigil-pat,Finance,EU,carol,execs\n"
                                "vigil-erin,Finance,EU,carol,\n"
                                "vigil-quinn,Finance,EU,carol,\n");
  auto imp = d.ctl({"users", "import-attributes", attrs, "--json"});
  INFO(imp.out << imp.err);
  REQUIRE(imp.exit_code == 0);
  auto rule = d.ctl({"dlp-rules", "create",
                     w.ctl_file("rule.json", R"({"name": "cards to removable media", "info_types": {"credit_card": 1},
                                                 "channels": ["removable"], "severity": "high"})"),
                     "--json"});
  INFO(rule.out << rule.err);
  REQUIRE(rule.exit_code == 0);
  create_policy(d, w.ctl_file("priority.json",
                              R"({"name": "Executives leaking data", "template": "data_leaks_priority_users", "groups": ["execs"]})"));

  spit(w.home + "/payments.txt", kCards);
  spit(w.home + "/quinn-notes.txt", "first draft\n");
  if (!w.start()) return;
  const std::string stick = w.stick->point;

  int rc = run_as(quinn.uid, {"/bin/sh", "-c", "echo edit >> '" + w.home + "/quinn-notes.txt'"});
  if (rc == -1) {
    WARN("SKIPPED: the audit login uid cannot be set here (already set and immutable)");
    return;
  }
  REQUIRE(rc == 0);
  REQUIRE(run_as(erin.uid, {find_program("cp"), w.home + "/payments.txt", stick + "/erin-payments.txt"}) == 0);
  REQUIRE(eventually([&] { return events_by(d, w.device, "exfil.removable", erin.name) == 1; }, 30s));
  REQUIRE(eventually([&] { return events_by(d, w.device, "file.write", quinn.name) >= 1; }, 30s));

  REQUIRE(run_as(pat.uid, {find_program("cp"), w.home + "/payments.txt", stick + "/pat-payments.txt"}) == 0);
  std::vector<json::object> mine;
  const bool alerted = eventually([&] {
    mine = alerts_for(d, pat.name);
    return !mine.empty();
  }, 30s, 250ms);
  INFO("agent log: " << slurp(w.adir + ".log"));
  REQUIRE(alerted);
  REQUIRE(mine.size() == 1);
  const auto shown = show_alert(d, str(mine[0], "id"));
  INFO(json::serialize(shown));
  CHECK(str(shown.at("trigger").as_object(), "kind").find("priority") != std::string::npos);
  std::string why;
  CHECK(explained_by(shown, "exfil.removable", why));
  INFO(why);
  const auto& acts = shown.at("activities").as_array();
  REQUIRE(acts.size() == 1);
  CHECK(str(acts[0].as_object(), "summary").find("pat-payments.txt") != std::string::npos);
  bool priority_user_reason = false, sensitive_reason = false;
  for (const auto& r : acts[0].at("reasons").as_array()) {
    const auto reason = str(r.as_object(), "reason");
    if (reason.find("priority user") != std::string::npos) priority_user_reason = true;
    if (reason.find("sensitive content") != std::string::npos) sensitive_reason = true;
  }
  CHECK(priority_user_reason);
  CHECK(sensitive_reason);

  CHECK(alerts_for(d, erin.name).empty());
  CHECK(alerts_for(d, quinn.name).empty());
  CHECK(alerts(d).size() == 1);
  auto scope = d.ctl({"users", "--in-scope", "--json"});
  REQUIRE(scope.exit_code == 0);
  auto in_scope = lines_of(scope.out);
  REQUIRE(in_scope.size() == 1);
  CHECK(str(in_scope[0], "user") == pat.name);
}
