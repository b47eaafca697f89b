// What the insider-risk stories (test_scenarios*.cpp) share: real local accounts, running a
// command as a login user, reading alerts through vigilctl and checking that an alert's
// explanation adds up. Header-only; needs Catch2 and the integration harness.
#pragma once
#include <fcntl.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace vigil::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

inline bool sh(const std::string& cmd) {
  auto r = run_command({"/bin/sh", "-c", cmd}, 120s);
  if (r.exit_code != 0) WARN("command failed: " << cmd << ": " << r.err);
  return r.exit_code == 0;
}

// A real local account for one actor of a story (no home directory, no login shell). Made when
// missing, removed at the end only if this test made it, so a re-run after a crash reuses it.
struct LocalUser {
  std::string name;
  uid_t uid = 0;
  bool made = false;
  bool ok = false;
  explicit LocalUser(std::string n) : name(std::move(n)) {
    if (::getpwnam(name.c_str()) == nullptr) {
      made = run_command({find_program("useradd"), "-M", "-N", "-s", "/usr/sbin/nologin", name}).exit_code == 0;
    }
    if (const passwd* pw = ::getpwnam(name.c_str())) {
      uid = pw->pw_uid;
      ok = true;
    }
  }
  ~LocalUser() {
    if (made) run_command({find_program("userdel"), name});
  }
  LocalUser(const LocalUser&) = delete;
  LocalUser& operator=(const LocalUser&) = delete;
};

// Runs argv as the login user `uid`: the child sets its own audit login uid (root may set it while
// it is unset, or with CAP_AUDIT_CONTROL) and stays uid 0 so it can write anywhere; everything it
// execs inherits the login uid, so the agent names `uid`'s user. `stdin_text`, when given, is
// written to the child's stdin a line at a time with a pause after each (nft -i commits per line
// and stays alive, so the agent can still read who it is). Returns the exit code, -1 when the
// login uid could not be set.
inline int run_as(uid_t uid, const std::vector<std::string>& argv, const std::vector<std::string>& stdin_lines = {}) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return -2;
  pid_t pid = ::fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    ::dup2(in[0], 0);
    int fd = ::open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
    const std::string v = std::to_string(uid);
    const bool set = fd >= 0 && ::write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
    if (!set) ::_exit(125);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  ::close(in[0]);
  for (const auto& line : stdin_lines) {
    (void)!::write(in[1], line.data(), line.size());
    std::this_thread::sleep_for(1500ms);
  }
  ::close(in[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return -2;
  return WEXITSTATUS(status) == 125 ? -1 : WEXITSTATUS(status);
}

inline void set_key(const std::string& adir, const std::string& key, const std::string& value) {
  std::string cfg = slurp(adir + "/agent.toml");
  auto at = cfg.find("\n" + key + " = ");
  if (at == std::string::npos) {
    cfg += key + " = " + value + "\n";
  } else {
    ++at;
    cfg.replace(at, cfg.find('\n', at) - at, key + " = " + value);
  }
  spit(adir + "/agent.toml", cfg);
}

inline std::string days_ago(int n) {
  std::time_t t = std::time(nullptr) - static_cast<std::time_t>(n) * 86400;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

inline std::vector<json::object> lines_of(const std::string& out) {
  std::vector<json::object> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(json::parse(line).as_object());
  return v;
}

inline std::vector<json::object> alerts(Deployment& d) {
  auto r = d.ctl({"alerts", "list", "--json"});
  REQUIRE(r.exit_code == 0);
  return lines_of(r.out);
}

inline std::vector<json::object> alerts_for(Deployment& d, const std::string& user) {
  std::vector<json::object> out;
  for (auto& a : alerts(d))
    if (str(a, "user") == user) out.push_back(a);
  return out;
}

// `vigilctl alerts show ID --json`; with VIGIL_SCENARIO_VERBOSE set, the human form (trigger,
// activities, reasons) is printed too, so a reader can see why each story alerted.
inline json::object show_alert(Deployment& d, const std::string& id, bool print = true) {
  auto r = d.ctl({"alerts", "show", id, "--json"});
  REQUIRE(r.exit_code == 0);
  if (print && std::getenv("VIGIL_SCENARIO_VERBOSE") != nullptr) std::cout << d.ctl({"alerts", "show", id}).out << std::endl;
  return json::parse(r.out).as_object();
}

inline std::size_t events_by(Deployment& d, const std::string& device, const std::string& type, const std::string& user) {
  std::size_t n = 0;
  for (const auto& e : d.events(device, type))
    if (str(e, "user") == user) ++n;
  return n;
}

// Every activity of the alert is of `indicator` (or `also`) and each one's reasons are stated,
// start from the indicator's base weight and sum to its score (the explanation is the score).
inline bool explained_by(const json::object& shown, const std::string& indicator, std::string& why, const std::string& also = "") {
  const auto& acts = shown.at("activities").as_array();
  if (acts.empty()) {
    why = "no activities";
    return false;
  }
  for (const auto& v : acts) {
    const auto& a = v.as_object();
    const std::string ind = str(a, "indicator");
    if (ind != indicator && (also.empty() || ind != also)) {
      why = "activity of indicator " + ind;
      return false;
    }
    double sum = 0;
    bool base = false;
    for (const auto& r : a.at("reasons").as_array()) {
      sum += r.at("points").to_number<double>();
      if (str(r.as_object(), "reason") == "base weight of " + ind) base = true;
    }
    if (!base) {
      why = "no base weight reason in " + json::serialize(a);
      return false;
    }
    if (std::abs(sum - a.at("score").to_number<double>()) > 0.05) {
      why = "reasons do not sum to the score in " + json::serialize(a);
      return false;
    }
  }
  return true;
}

inline const std::string kCards =
    "Customer payment details\nVisa card: 4111 1111 1111 1111\nMastercard credit card 5555555555554444\n";

inline void create_policy(Deployment& d, const std::string& path) {
  auto r = d.ctl({"policies", "create", path, "--json"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace vigil::testing
