// Security settings, tamper and sessions end to end through the real binaries: an enrolled agent
// configured with security_netns (a network namespace the test makes), security_config_root (a
// temporary root with etc/sudoers.d) and utmp_path (a temporary utmp file). The test changes the
// firewall with the real nft(8) in that namespace, writes a sudoers drop-in, touches agent.toml and
// puts a logon record with pututxline(3); the events reach the collector and `vigilctl events
// --json` shows their fields. Needs root. Tag: [security].
#include <signal.h>
#include <unistd.h>
#include <utmpx.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

void set_key(std::string& cfg, const std::string& key, const std::string& value) {
  auto at = cfg.find(key + " = ");
  REQUIRE(at != std::string::npos);
  cfg.replace(at, cfg.find('\n', at) - at, key + " = " + value);
}

const json::object* find_event(const std::vector<json::object>& events, const std::function<bool(const json::object&)>& pred) {
  for (const auto& e : events)
    if (pred(e)) return &e;
  return nullptr;
}

struct NetNs {
  std::string name, path;
  bool ok = false;
  NetNs() {
    name = "vigil-it-" + std::to_string(::getpid());
    run_command({find_program("ip"), "netns", "del", name});
    ok = run_command({find_program("ip"), "netns", "add", name}).exit_code == 0;
    path = "/run/netns/" + name;
  }
  ~NetNs() {
    if (ok) run_command({find_program("ip"), "netns", "del", name});
  }
  CommandResult nft(std::vector<std::string> args) const {
    args.insert(args.begin(), {find_program("ip"), "netns", "exec", name, find_program("nft")});
    return run_command(args);
  }
};

}  // namespace

TEST_CASE("firewall, sudoers, tamper and logon changes reach the collector", "[security]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (network namespaces, nftables)");
    return;
  }
  if (find_program("ip").empty() || find_program("nft").empty()) {
    WARN("SKIPPED: ip (iproute2) or nft (nftables) not installed");
    return;
  }
  NetNs ns;
  if (!ns.ok) {
    WARN("SKIPPED: ip netns add failed");
    return;
  }

  Deployment d("security");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  const std::string root = d.dir() + "/sysroot";
  std::filesystem::create_directories(root + "/etc/sudoers.d");
  spit(root + "/etc/sudoers", "root ALL=(ALL:ALL) ALL\n");
  const std::string utmp = d.dir() + "/utmp";
  spit(utmp, "");
  std::string cfg = slurp(adir + "/agent.toml");
  set_key(cfg, "security_config_root", "\"" + root + "\"");
  set_key(cfg, "security_netns", "\"" + ns.path + "\"");
  set_key(cfg, "utmp_path", "\"" + utmp + "\"");
  spit(adir + "/agent.toml", cfg);
  std::string device = d.device_id(adir);

  const std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1500ms);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(agent.running());

  REQUIRE(ns.nft({"add", "table", "inet", "vigil_it"}).exit_code == 0);
  REQUIRE(ns.nft({"add", "chain", "inet", "vigil_it", "input", "{ type filter hook input priority 0; }"}).exit_code == 0);
  REQUIRE(ns.nft({"add", "rule", "inet", "vigil_it", "input", "tcp", "dport", "2222", "drop"}).exit_code == 0);

  const std::string dropin = root + "/etc/sudoers.d/90-vigil";
  spit(dropin, "mallory ALL=(ALL) NOPASSWD: ALL\n");

  // A logon as sshd writes it.
  REQUIRE(::utmpxname(utmp.c_str()) == 0);
  ::setutxent();
  utmpx ut{};
  ut.ut_type = USER_PROCESS;
  ut.ut_pid = ::getpid();
  std::strncpy(ut.ut_line, "pts/42", sizeof ut.ut_line);
  std::strncpy(ut.ut_id, "ts42", sizeof ut.ut_id);
  std::strncpy(ut.ut_user, "root", sizeof ut.ut_user);
  std::strncpy(ut.ut_host, "192.0.2.7", sizeof ut.ut_host);
  ut.ut_tv.tv_sec = 1700000000;
  REQUIRE(::pututxline(&ut) != nullptr);
  ::endutxent();

  // agent.toml touched after start: tamper.
  { std::ofstream(adir + "/agent.toml", std::ios::app) << "# edited by someone\n"; }

  auto rule_added = [](const json::object& e) {
    return str(e, "category") == "firewall" && str(e, "diff").find("tcp dport 2222 drop") != std::string::npos;
  };
  auto dropin_created = [&](const json::object& e) {
    return str(e, "category") == "sudoers" && str(e, "item") == dropin && str(e, "change") == "created";
  };
  std::vector<json::object> security, tamper, sessions;
  bool all = eventually([&] {
    security = d.events(device, "security.changed");
    tamper = d.events(device, "agent.tamper");
    sessions = d.events(device, "session.");
    return find_event(security, rule_added) && find_event(security, dropin_created) && !tamper.empty() &&
           !sessions.empty();
  }, 30s);
  INFO("agent log: " << slurp(adir + ".log"));
  CHECK(find_event(security, rule_added));
  CHECK(find_event(security, dropin_created));
  CHECK_FALSE(tamper.empty());
  CHECK_FALSE(sessions.empty());
  REQUIRE(all);

  const auto& fw = *find_event(security, rule_added);
  CHECK(str(fw, "item") == "nftables ruleset");
  CHECK(str(fw, "change") == "modified");
  CHECK(str(fw, "changed_by") == "nftables generation");
  CHECK(str(fw, "comm") == "nft");
  CHECK(str(fw, "old_digest").size() == 64);
  CHECK(str(fw, "new_digest").size() == 64);
  CHECK(u64(fw, "lines_added") == 1);

  const auto& su = *find_event(security, dropin_created);
  CHECK(str(su, "diff") == "+mallory ALL=(ALL) NOPASSWD: ALL\n");
  CHECK(str(su, "new_digest").size() == 64);

  const auto& t = tamper.front();
  CHECK(str(t, "what") == "config_modified");
  CHECK(str(t, "item").find("agent.toml") != std::string::npos);
  CHECK(str(t, "old_digest") != str(t, "new_digest"));

  const auto& s = sessions.front();
  CHECK(str(s, "type") == "session.logon");
  CHECK(str(s, "tty") == "pts/42");
  CHECK(str(s, "remote_host") == "192.0.2.7");
  CHECK(str(s, "source") == "utmp");
  CHECK(str(s, "user") == "root");
  CHECK(str(s, "time") == "2023-11-14T22:13:20.000000000Z");

  // Stopping the agent is recorded with who asked: the test process sends SIGTERM.
  agent.signal(SIGTERM);
  REQUIRE(agent.wait(20s) == 0);
  Process again = d.start_agent(adir, {watched});
  std::vector<json::object> stops;
  auto stopped_by_us = [](const json::object& e) { return str(e, "what") == "stopped"; };
  REQUIRE(eventually([&] {
    stops = d.events(device, "agent.tamper");
    return find_event(stops, stopped_by_us) != nullptr;
  }, 30s));
  const auto& st = *find_event(stops, stopped_by_us);
  CHECK(str(st, "item") == "SIGTERM");
  CHECK(u64(st, "signal") == SIGTERM);
  CHECK(u64(st, "sender_pid") == static_cast<std::uint64_t>(::getpid()));
  CHECK(u64(st, "sender_uid") == ::getuid());
  CHECK_FALSE(str(st, "sender_exe").empty());
}
