// The policy engine on the real ingest path: a real agent captures file deletions by six
// different (system) users in a watched directory; the collector commits them, hands them to the
// engine, and `vigilctl analytics --json` shows the organisation-wide aggregate within 5 s of the
// events being stored. No policies are created here, so nobody is in scope and nothing alerts;
// the stories with policies (a departing user's High alert, a user with the same habit and no
// trigger, a disgruntled user's firewall change, a priority user's small leak) are the [scenario]
// tests (test_scenarios.cpp, docs/SCENARIOS.md). Needs root. Tag: [alerts].
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Deletes `path` as `uid`/`gid` in a child, which then lingers so the agent can still attribute
// the event to it through /proc.
bool delete_as(uid_t uid, gid_t gid, const std::string& path) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
    const int rc = ::unlink(path.c_str());
    ::sleep(2);
    ::_exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("committed activity reaches the policy engine: analytics over real agent events", "[alerts]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (fanotify capture, deleting files as other users)");
    return;
  }
  std::vector<passwd> users;
  for (const char* name : {"daemon", "bin", "sys", "games", "man", "lp", "mail", "news"}) {
    if (auto* pw = ::getpwnam(name)) users.push_back(*pw);
    if (users.size() == 6) break;
  }
  if (users.size() < 6) {
    WARN("SKIPPED: fewer than 6 system users to act as distinct people");
    return;
  }
  Deployment d("e2e-alerts");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  std::filesystem::permissions(watched, std::filesystem::perms::all);
  // The other users must be able to reach it (the deployment's temp dir is 0700).
  std::filesystem::permissions(d.dir(), std::filesystem::perms::others_exec | std::filesystem::perms::group_exec,
                               std::filesystem::perm_options::add);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1500ms);  // capture marks are placed during start-up

  // Before any activity: too few users, everything suppressed.
  auto before = d.ctl({"analytics", "--days", "1", "--json"});
  REQUIRE(before.exit_code == 0);
  CHECK(json::parse(before.out).at("suppressed").as_bool());

  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::string f = watched + "/doc" + std::to_string(i) + ".txt";
    std::ofstream(f) << "draft " << i;
    REQUIRE(::chown(f.c_str(), users[i].pw_uid, users[i].pw_gid) == 0);
  }
  std::vector<std::thread> actors;
  std::atomic<int> deleted{0};
  for (std::size_t i = 0; i < users.size(); ++i)
    actors.emplace_back([&, i] {
      if (delete_as(users[i].pw_uid, users[i].pw_gid, watched + "/doc" + std::to_string(i) + ".txt")) ++deleted;
    });
  for (auto& t : actors) t.join();
  REQUIRE(deleted == static_cast<int>(users.size()));

  // Stored: each user's delete is in the event store with the user's name.
  std::set<std::string> seen;
  REQUIRE(eventually([&] {
    seen.clear();
    for (const auto& e : d.events("", "file.delete"))
      if (auto* u = e.if_contains("user"); u && u->is_string()) seen.insert(std::string(u->as_string()));
    std::size_t n = 0;
    for (const auto& u : users) n += seen.count(u.pw_name);
    return n == users.size();
  }, 20s));
  const auto stored_at = std::chrono::steady_clock::now();

  // Evaluated: the engine counted them within 5 s of the store having them.
  json::object an;
  const bool counted = eventually([&] {
    auto r = d.ctl({"analytics", "--days", "1", "--json"});
    if (r.exit_code != 0) return false;
    an = json::parse(r.out).as_object();
    if (an.at("suppressed").as_bool()) return false;
    for (const auto& t : an.at("top_indicators").as_array())
      if (t.at("indicator").as_string() == "file.delete" && t.at("users").to_number<std::int64_t>() >= 6) return true;
    return false;
  }, 5s, 100ms);
  INFO(json::serialize(an));
  REQUIRE(counted);
  CHECK(std::chrono::steady_clock::now() - stored_at < 6s);
  CHECK(an.at("active_users").to_number<std::int64_t>() >= 6);
  CHECK(an.at("exfiltration_share").to_number<double>() == 0);  // deletions are not exfiltration

  // No policies: nobody in scope, no alerts (the quiet default).
  auto alerts = d.ctl({"alerts", "list", "--json"});
  REQUIRE(alerts.exit_code == 0);
  CHECK(alerts.out.empty());
  auto scope = d.ctl({"users", "--in-scope", "--json"});
  REQUIRE(scope.exit_code == 0);
  CHECK(scope.out.empty());
}
