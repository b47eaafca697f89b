// CupsTestServer (header-only, for unit and integration tests): a real cupsd private to the test.
// Its ServerRoot, spool, state, cache and logs live in a fresh temporary directory; it listens
// on a unix socket there and on a free 127.0.0.1 port; no browsing, no web interface,
// FileDevice Yes (queues print to file:///dev/null), and the stock Debian policy (so the privacy
// and ownership rules are the ones a production server applies). Runs in the foreground
// (cupsd -f) as a child of the test; stop() sends SIGTERM (SIGKILL after 10 s); the destructor
// stops it and removes the directory. Needs root (cupsd drops to lp for filters and backends).
// Nothing here uses Catch2: errors come back as text so the caller decides to skip or fail.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vigil::test {

struct CupsRun {
  int code = -1;  // exit code; -1 when it had to be killed
  std::string out, err;
};

// Runs argv (no shell; argv[0] is searched in PATH) with stdin from `input` ("" = /dev/null),
// bounded by `timeout`.
inline CupsRun cups_run(const std::vector<std::string>& argv, const std::string& input = "",
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  char out_t[] = "/tmp/vigil-cups-out-XXXXXX", err_t[] = "/tmp/vigil-cups-err-XXXXXX", in_t[] = "/tmp/vigil-cups-in-XXXXXX";
  int out_fd = ::mkstemp(out_t), err_fd = ::mkstemp(err_t), in_fd = ::mkstemp(in_t);
  if (!input.empty()) {
    (void)!::write(in_fd, input.data(), input.size());
    ::lseek(in_fd, 0, SEEK_SET);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (input.empty()) {
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
    } else {
      ::dup2(in_fd, 0);
    }
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(in_fd);
  CupsRun r;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto slurp = [](const char* p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  r.out = slurp(out_t);
  r.err = slurp(err_t);
  ::unlink(out_t);
  ::unlink(err_t);
  ::unlink(in_t);
  return r;
}

class CupsTestServer {
 public:
  CupsTestServer() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vigil-cups-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) {
      dir_ = tmpl;
      // cupsd's helpers run as lp and must reach the spool below this directory.
      ::chmod(dir_.c_str(), 0755);
    }
  }
  ~CupsTestServer() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  CupsTestServer(const CupsTestServer&) = delete;
  CupsTestServer& operator=(const CupsTestServer&) = delete;

  static std::string cupsd_path() {
    for (const char* p : {"/usr/sbin/cupsd", "/sbin/cupsd", "/usr/local/sbin/cupsd"})
      if (::access(p, X_OK) == 0) return p;
    return "";
  }
  // Why the client tools the tests need are missing ("" when all are there).
  static std::string missing_tools() {
    std::string missing;
    for (const char* t : {"lp", "lpadmin", "cancel", "lpstat"})
      if (cups_run({"sh", "-c", std::string("command -v ") + t}).code != 0) missing += std::string(missing.empty() ? "" : ", ") + t;
    return missing;
  }

  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/cups.sock"; }
  std::uint16_t port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string spool_dir() const { return dir_ + "/spool"; }
  std::string error_log() const { return slurp_file(dir_ + "/log/error_log"); }
  pid_t pid() const { return pid_; }

  // Writes the configuration (first time) and starts cupsd; "" when it accepts connections on
  // its socket, else why not.
  std::string start() {
    if (dir_.empty()) return "could not create a temporary directory";
    if (cupsd_path().empty()) return "cupsd is not installed (Debian: cups-daemon)";
    if (::geteuid() != 0) return "cupsd needs root to run its helpers as lp";
    if (port_ == 0) {
      port_ = free_port();
      if (port_ == 0) return "no free 127.0.0.1 port";
      for (const char* d : {"/root", "/root/ppd", "/spool", "/spool/tmp", "/state", "/cache", "/log"})
        std::filesystem::create_directories(dir_ + d);
      write_file(dir_ + "/root/cups-files.conf",
                 "ServerRoot " + dir_ + "/root\nRequestRoot " + spool_dir() + "\nTempDir " + dir_ + "/spool/tmp\n"
                 "StateDir " + dir_ + "/state\nCacheDir " + dir_ + "/cache\nErrorLog " + dir_ + "/log/error_log\n"
                 "AccessLog " + dir_ + "/log/access_log\nPageLog " + dir_ + "/log/page_log\n"
                 "FileDevice Yes\nPrintcap " + dir_ + "/state/printcap\nSystemGroup root lpadmin\n");
      write_file(dir_ + "/root/cupsd.conf", cupsd_conf());
    }
    log_fd_ = ::open((dir_ + "/log/cupsd.out").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(log_fd_, 1);
      ::dup2(log_fd_, 2);
      std::string conf = dir_ + "/root/cupsd.conf", files = dir_ + "/root/cups-files.conf";
      ::execl(cupsd_path().c_str(), "cupsd", "-f", "-c", conf.c_str(), "-s", files.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(log_fd_);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return "cupsd exited at start: " + slurp_file(dir_ + "/log/cupsd.out") + error_log();
      }
      if (accepts()) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    return "cupsd did not open its socket within 15 s: " + error_log();
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() >= end) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  // A raw queue printing to /dev/null; "" on success, else lpadmin's complaint.
  std::string add_printer(const std::string& name) {
    auto r = cups_run({"lpadmin", "-h", socket(), "-p", name, "-E", "-v", "file:///dev/null"});
    return r.code == 0 ? "" : "lpadmin failed (" + std::to_string(r.code) + "): " + r.out + r.err;
  }

  // lp with the given arguments against this server; the job id, or 0 (with `why`) on failure.
  int lp(std::vector<std::string> args, std::string* why = nullptr, const std::string& input = "") {
    args.insert(args.begin(), {"lp", "-h", socket()});
    auto r = cups_run(args, input);
    // "request id is PRINTER-ID (1 file(s))"
    auto at = r.out.find("request id is ");
    auto dash = r.out.find_first_of(" ", at == std::string::npos ? 0 : at + 14);
    if (r.code != 0 || at == std::string::npos || dash == std::string::npos) {
      if (why) *why = "lp failed (" + std::to_string(r.code) + "): " + r.out + r.err;
      return 0;
    }
    std::string id = r.out.substr(at + 14, dash - at - 14);
    return std::atoi(id.substr(id.rfind('-') + 1).c_str());
  }

 private:
  static std::string slurp_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  static void write_file(const std::string& p, const std::string& text) { std::ofstream(p) << text; }

  static std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  bool accepts() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string p = socket();
    if (p.size() >= sizeof a.sun_path) {
      ::close(fd);
      return false;
    }
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  // Debian's stock policy; only the listeners, browsing and logging differ.
  std::string cupsd_conf() const {
    return "LogLevel debug\nMaxLogSize 0\nErrorPolicy retry-job\n"
           "Listen " + socket() + "\nListen 127.0.0.1:" + std::to_string(port_) + "\n"
           "Browsing No\nBrowseLocalProtocols none\nDefaultAuthType Basic\nWebInterface No\n"
           "<Location />\n  Order allow,deny\n  Allow localhost\n</Location>\n"
           "<Location /admin>\n  Order allow,deny\n  Allow localhost\n</Location>\n"
           "<Policy default>\n"
           "  JobPrivateAccess default\n  JobPrivateValues default\n"
           "  SubscriptionPrivateAccess default\n  SubscriptionPrivateValues default\n"
           "  <Limit Create-Job Print-Job Print-URI Validate-Job>\n    Order deny,allow\n  </Limit>\n"
           "  <Limit Send-Document Send-URI Hold-Job Release-Job Restart-Job Purge-Jobs Set-Job-Attributes "
           "Create-Job-Subscription Renew-Subscription Cancel-Subscription Get-Notifications Reprocess-Job "
           "Cancel-Current-Job Suspend-Current-Job Resume-Job Cancel-My-Jobs Close-Job CUPS-Move-Job>\n"
           "    Require user @OWNER @SYSTEM\n    Order deny,allow\n  </Limit>\n"
           "  <Limit CUPS-Get-Document>\n    AuthType Default\n    Require user @OWNER @SYSTEM\n    Order deny,allow\n  </Limit>\n"
           "  <Limit CUPS-Add-Modify-Printer CUPS-Delete-Printer CUPS-Add-Modify-Class CUPS-Delete-Class "
           "CUPS-Set-Default CUPS-Get-Devices>\n    AuthType Default\n    Require user @SYSTEM\n    Order deny,allow\n  </Limit>\n"
           "  <Limit Pause-Printer Resume-Printer Enable-Printer Disable-Printer Pause-Printer-After-Current-Job "
           "Hold-New-Jobs Release-Held-New-Jobs Deactivate-Printer Activate-Printer Restart-Printer Shutdown-Printer "
           "Startup-Printer Promote-Job Schedule-Job-After Cancel-Jobs CUPS-Accept-Jobs CUPS-Reject-Jobs>\n"
           "    AuthType Default\n    Require user @SYSTEM\n    Order deny,allow\n  </Limit>\n"
           "  <Limit Cancel-Job CUPS-Authenticate-Job>\n    Require user @OWNER @SYSTEM\n    Order deny,allow\n  </Limit>\n"
           "  <Limit All>\n    Order deny,allow\n  </Limit>\n"
           "</Policy>\n";
  }

  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int log_fd_ = -1;
};

}  // namespace vigil::test
