#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vigil::testing {

std::string bin(const std::string& name) { return std::string(VIGIL_BIN_DIR) + "/" + name; }

std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = "/tmp/vigil-it-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  return eventually([port] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }, timeout, std::chrono::milliseconds(50));
}

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

LoopDevice::LoopDevice(const std::string& file) {
  auto r = run_command({find_program("losetup"), "-f", "--show", file});
  if (r.exit_code == 0 && r.out.rfind("/dev/loop", 0) == 0) node = trimmed(r.out);
}

LoopDevice::~LoopDevice() {
  if (!node.empty()) run_command({find_program("losetup"), "-d", node});
}

MountGuard::~MountGuard() {
  if (mounted) ::umount2(point.c_str(), MNT_DETACH);
}

std::string str(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::uint64_t u64(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<std::uint64_t>(v->as_int64());
  if (v->is_double()) return static_cast<std::uint64_t>(v->as_double());
  return 0;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

Process::Process(std::vector<std::string> argv, std::string log_path) : log_(std::move(log_path)) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0) kill_hard();
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), log_(std::move(o.log_)) { o.pid_ = -1; }
Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) kill_hard();
    pid_ = o.pid_;
    log_ = std::move(o.log_);
    o.pid_ = -1;
  }
  return *this;
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Process::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  char out_t[] = "/tmp/vigil-cmd-out-XXXXXX", err_t[] = "/tmp/vigil-cmd-err-XXXXXX";
  int out_fd = ::mkstemp(out_t), err_fd = ::mkstemp(err_t);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  CommandResult r;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      r.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.out = slurp(out_t);
  r.err = slurp(err_t);
  ::unlink(out_t);
  ::unlink(err_t);
  return r;
}

Deployment::Deployment(const std::string& tag) : dir_(make_temp_dir(tag)) {
  auto r = run_command({bin("vigil-collector"), "init", "--data-dir", data_dir()});
  if (r.exit_code != 0) throw std::runtime_error("collector init failed: " + r.err);
  ingest_port_ = free_port();
  api_port_ = free_port();
  while (api_port_ == ingest_port_) api_port_ = free_port();
  // Rewrite the ports so parallel test runs never collide.
  std::string cfg = slurp(data_dir() + "/collector.toml");
  auto replace = [&cfg](const std::string& from, const std::string& to) {
    auto p = cfg.find(from);
    if (p != std::string::npos) cfg.replace(p, from.size(), to);
  };
  replace("127.0.0.1:7443", "127.0.0.1:" + std::to_string(ingest_port_));
  replace("127.0.0.1:8443", "127.0.0.1:" + std::to_string(api_port_));
  spit(data_dir() + "/collector.toml", cfg);
}

Deployment::~Deployment() {
  if (collector_.running()) stop_collector();
  if (std::getenv("VIGIL_KEEP_TEST_DIRS") == nullptr) remove_tree(dir_);
}

std::string Deployment::admin_token() const {
  std::string t = slurp(data_dir() + "/admin.token");
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

void Deployment::start_collector() {
  collector_ = Process({bin("vigil-collector"), "run", "--data-dir", data_dir()},
                       dir_ + "/collector-" + std::to_string(collector_starts_++) + ".log");
  if (!wait_for_port(ingest_port_, std::chrono::seconds(20)) || !wait_for_port(api_port_, std::chrono::seconds(20)))
    throw std::runtime_error("collector did not start listening; log: " + slurp(collector_.log_path()));
}

void Deployment::kill_collector() { collector_.kill_hard(); }

void Deployment::stop_collector() {
  collector_.signal(SIGTERM);
  if (!collector_.wait(std::chrono::seconds(20))) collector_.kill_hard();
}

CommandResult Deployment::ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{bin("vigilctl"), "--server", "https://127.0.0.1:" + std::to_string(api_port_),
                                "--ca", ca(), "--token", admin_token()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

std::string Deployment::mint_token(int uses, const std::string& ttl) {
  auto r = ctl({"enroll-token", "create", "--uses", std::to_string(uses), "--ttl", ttl, "--json"});
  if (r.exit_code != 0) throw std::runtime_error("enroll-token create failed: " + r.err);
  return boost::json::value_to<std::string>(boost::json::parse(r.out).at("token"));
}

std::string Deployment::enroll_agent(const std::string& name) {
  std::string adir = dir_ + "/agent-" + name;
  auto r = run_command({bin("vigil-agent"), "enroll", "--server", "127.0.0.1:" + std::to_string(ingest_port_),
                        "--token", mint_token(), "--ca", ca(), "--data-dir", adir});
  if (r.exit_code != 0) throw std::runtime_error("agent enroll failed: " + r.err + r.out);
  return adir;
}

Process Deployment::start_agent(const std::string& agent_dir, const std::vector<std::string>& watch) {
  std::vector<std::string> argv{bin("vigil-agent"), "run", "--data-dir", agent_dir};
  for (const auto& w : watch) {
    argv.push_back("--watch");
    argv.push_back(w);
  }
  return Process(argv, agent_dir + ".log");
}

std::string Deployment::device_id(const std::string& agent_dir) const {
  std::string cfg = slurp(agent_dir + "/agent.toml");
  auto p = cfg.find("device_id = \"");
  if (p == std::string::npos) return "";
  p += 13;
  return cfg.substr(p, cfg.find('"', p) - p);
}

std::vector<boost::json::object> Deployment::events(const std::string& device, const std::string& type) {
  std::vector<std::string> args{"events", "--json", "--limit", "100000"};
  if (!device.empty()) { args.push_back("--device"); args.push_back(device); }
  if (!type.empty()) { args.push_back("--type"); args.push_back(type); }
  auto r = ctl(args);
  if (r.exit_code != 0) throw std::runtime_error("vigilctl events failed: " + r.err);
  std::vector<boost::json::object> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
  return out;
}

}  // namespace vigil::testing
