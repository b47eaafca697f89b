// Test harness for integration tests: real binaries (build/bin), real processes, real sockets.
// A Deployment is a collector data dir + one running collector on free ports, plus agents.
#pragma once
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <thread>
#include <string>
#include <vector>

namespace vigil::testing {

std::string bin(const std::string& name);   // VIGIL_BIN_DIR/name
std::string make_temp_dir(const std::string& tag);
void remove_tree(const std::string& path);
std::uint16_t free_port();
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);
std::string slurp(const std::string& path);
// A field of an event or API object: text ("" when absent or not a string), number (0 when
// absent or not a number).
std::string str(const boost::json::object& o, const char* key);
std::uint64_t u64(const boost::json::object& o, const char* key);
// Full path of a program in the usual places (/usr/sbin, /sbin, /usr/bin, /bin, /usr/local/...),
// "" when not installed.
std::string find_program(const std::string& name);
// s without trailing newlines and spaces (command output).
std::string trimmed(std::string s);

// A loop device attached to a file (losetup -f); node is "" when none could be attached.
// Detached on destruction whatever happened.
struct LoopDevice {
  std::string node;
  explicit LoopDevice(const std::string& file);
  ~LoopDevice();
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
};

// A mount undone on destruction whatever happened (lazily, so a busy mount cannot block cleanup).
struct MountGuard {
  std::string point;
  bool mounted = false;
  ~MountGuard();
};
void spit(const std::string& path, const std::string& content);

// A child process whose output goes to a log file. Killed (SIGKILL) on destruction if running.
class Process {
 public:
  Process() = default;
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill_hard();  // SIGKILL and reap
  const std::string& log_path() const { return log_; }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs to completion (bounded by timeout) capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60));

class Deployment {
 public:
  explicit Deployment(const std::string& tag);
  ~Deployment();
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/collector"; }
  std::string ca() const { return data_dir() + "/ca.pem"; }
  std::string admin_token() const;
  std::uint16_t ingest_port() const { return ingest_port_; }
  std::uint16_t api_port() const { return api_port_; }

  void start_collector();
  void kill_collector();   // SIGKILL
  void stop_collector();   // SIGTERM and wait
  Process& collector() { return collector_; }

  // vigilctl against this collector; argv after the global options.
  CommandResult ctl(const std::vector<std::string>& args);
  std::string mint_token(int uses = 1, const std::string& ttl = "1h");
  // Enrolls a new agent data dir; returns it.
  std::string enroll_agent(const std::string& name);
  Process start_agent(const std::string& agent_dir, const std::vector<std::string>& watch);
  std::string device_id(const std::string& agent_dir) const;

  // All events (vigilctl events --json), optionally for one device and type.
  std::vector<boost::json::object> events(const std::string& device = "", const std::string& type = "");

 private:
  std::string dir_;
  std::uint16_t ingest_port_ = 0, api_port_ = 0;
  Process collector_;
  int collector_starts_ = 0;
};

// Waits until pred() is true, polling; returns pred()'s last value.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout, std::chrono::milliseconds every = std::chrono::milliseconds(200)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace vigil::testing
