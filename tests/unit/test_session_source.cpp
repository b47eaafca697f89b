// Sessions from utmp as login(1) and sshd write it: real records put with pututxline(3) into a
// temporary utmp file (utmpxname), seen by SessionSource through inotify as logon and logoff with
// the records' own times; a session leader named sshd makes an ssh session. Hostile fields (no NUL
// terminator, invalid UTF-8, newlines) are kept as they are. Lock/unlock from logind: against the
// real system bus when logind is on it (skipped here: no systemd), and against a private
// dbus-daemon with a stand-in logind session object whose LockedHint the test flips. Tag: [session].
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <utmpx.h>

#include <atomic>
#include <optional>
#include <thread>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "agent/session_event_source.h"
#include "platform/linux/logind_watch.h"
#include "platform/linux/session_source.h"
#include "tests/unit/test_support.h"

using namespace std::chrono_literals;
using vigil::agent::SessionAction;
using vigil::agent::SessionActivity;
namespace fs = std::filesystem;
namespace vp = vigil::platform;

namespace {

struct Record {
  short type = USER_PROCESS;
  pid_t pid = 0;
  std::string line, id, user, host;
  std::int64_t sec = 0;
};

// Writes one record the way login and sshd do: pututxline on the named file.
void put_record(const std::string& file, const Record& r) {
  REQUIRE(::utmpxname(file.c_str()) == 0);
  ::setutxent();
  utmpx ut{};
  ut.ut_type = r.type;
  ut.ut_pid = r.pid;
  // Fixed-size fields filled with memcpy, so a value of the full size has no terminator.
  std::memcpy(ut.ut_line, r.line.data(), std::min(r.line.size(), sizeof ut.ut_line));
  std::memcpy(ut.ut_id, r.id.data(), std::min(r.id.size(), sizeof ut.ut_id));
  std::memcpy(ut.ut_user, r.user.data(), std::min(r.user.size(), sizeof ut.ut_user));
  std::memcpy(ut.ut_host, r.host.data(), std::min(r.host.size(), sizeof ut.ut_host));
  ut.ut_tv.tv_sec = static_cast<decltype(ut.ut_tv.tv_sec)>(r.sec);
  REQUIRE(::pututxline(&ut) != nullptr);
  ::endutxent();
}

bool pump(vp::SessionSource& src, std::vector<SessionActivity>& got, const std::function<bool()>& pred,
          std::chrono::milliseconds timeout = 5s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return pred();
    pollfd p{src.pollable_fd(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
    auto s = src.drain([&](SessionActivity&& a) { got.push_back(std::move(a)); });
    INFO((s ? std::string() : s.error()));
    REQUIRE(s.ok());
  }
}

const SessionActivity* find(const std::vector<SessionActivity>& got, SessionAction action, const std::string& tty) {
  for (const auto& a : got)
    if (a.action == action && a.tty == tty) return &a;
  return nullptr;
}

// A running process whose comm is `name` (a copy of sleep), killed on destruction.
struct NamedProcess {
  pid_t pid = -1;
  NamedProcess(const vigil::test::TempDir& dir, const std::string& name) {
    std::string exe = dir.file(name);
    fs::copy_file("/bin/sleep", exe, fs::copy_options::overwrite_existing);
    pid = ::fork();
    if (pid == 0) {
      ::execl(exe.c_str(), name.c_str(), "60", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait for the exec so /proc shows the new comm.
    for (int i = 0; i < 100; ++i) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
      std::string c;
      std::getline(in, c);
      if (c == name) break;
      ::usleep(10000);
    }
  }
  ~NamedProcess() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

std::uint32_t passwd_uid(const std::string& name) {
  passwd* pw = ::getpwnam(name.c_str());
  return pw ? pw->pw_uid : 0xffffffffu;
}

}  // namespace

TEST_CASE("utmp: logon and logoff written by pututxline are seen with the records' own times", "[session]") {
  vigil::test::TempDir dir("vigil-utmp");
  const std::string utmp = dir.file("utmp");
  { std::ofstream(utmp).flush(); }
  // Present before start: the baseline, not reported.
  put_record(utmp, {USER_PROCESS, ::getpid(), "tty1", "tty1", "root", "", 1699990000});

  vp::SessionSource src;
  vigil::agent::SessionCaptureSpec spec;
  spec.utmp_path = utmp;
  spec.logind = false;
  REQUIRE(src.start(spec).ok());
  std::vector<SessionActivity> got;
  pump(src, got, [] { return false; }, 200ms);
  REQUIRE(got.empty());

  NamedProcess sshd(dir, "sshd");
  put_record(utmp, {USER_PROCESS, sshd.pid, "pts/7", "ts/7", "root", "203.0.113.5", 1700000000});
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logon, "pts/7"); }));
  auto on = *find(got, SessionAction::Logon, "pts/7");
  CHECK(on.user == "root");
  CHECK(on.uid == 0);
  CHECK(on.remote_host == "203.0.113.5");
  CHECK(on.kind == "ssh");
  CHECK(on.source == "utmp");
  CHECK(on.leader_pid == static_cast<std::uint32_t>(sshd.pid));
  CHECK(on.time_ns == 1700000000LL * 1'000'000'000LL);
  CHECK(on.started_ns == on.time_ns);

  // An X11 session and a console login.
  put_record(utmp, {USER_PROCESS, ::getpid(), ":0", ":0", "root", ":0", 1700000100});
  put_record(utmp, {USER_PROCESS, ::getpid(), "tty2", "tty2", "nobody", "", 1700000200});
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logon, ":0") && find(got, SessionAction::Logon, "tty2"); }));
  CHECK(find(got, SessionAction::Logon, ":0")->kind == "x11");
  CHECK(find(got, SessionAction::Logon, "tty2")->kind == "tty");
  CHECK(find(got, SessionAction::Logon, "tty2")->uid == passwd_uid("nobody"));
  // A remote host on a leader that is not sshd is not called ssh.
  put_record(utmp, {USER_PROCESS, ::getpid(), "pts/9", "ts/9", "root", "198.51.100.1", 1700000300});
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logon, "pts/9"); }));
  CHECK(find(got, SessionAction::Logon, "pts/9")->kind == "other");

  // logout(3): the slot rewritten as DEAD_PROCESS with the user and host cleared.
  put_record(utmp, {DEAD_PROCESS, sshd.pid, "pts/7", "ts/7", "", "", 1700003600});
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logoff, "pts/7"); }));
  auto off = *find(got, SessionAction::Logoff, "pts/7");
  CHECK(off.user == "root");
  CHECK(off.remote_host == "203.0.113.5");
  CHECK(off.kind == "ssh");  // as found at logon
  CHECK(off.time_ns == 1700003600LL * 1'000'000'000LL);
  CHECK(off.started_ns == 1700000000LL * 1'000'000'000LL);

  // The agent's events.
  auto e = vigil::agent::make_session_event(off);
  CHECK(e.type() == "session.logoff");
  CHECK(e.user() == "root");
  CHECK(e.session().started_ns() == off.started_ns);
  CHECK(vigil::agent::make_session_event(on).type() == "session.logon");

  // The file replaced by rename (a tool rewriting utmp): sessions missing from it ended.
  std::string copy = dir.file("utmp.new");
  fs::copy_file(utmp, copy);
  put_record(copy, {DEAD_PROCESS, ::getpid(), "tty2", "tty2", "", "", 1700004000});
  fs::rename(copy, utmp);
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logoff, "tty2"); }));
  CHECK(find(got, SessionAction::Logoff, "tty2")->user == "nobody");
  // ... and the new file is watched in turn.
  put_record(utmp, {DEAD_PROCESS, ::getpid(), ":0", ":0", "", "", 1700004100});
  REQUIRE(pump(src, got, [&] { return find(got, SessionAction::Logoff, ":0"); }));
  CHECK(find(got, SessionAction::Logoff, "tty1") == nullptr);  // still logged on
}

TEST_CASE("utmp: hostile fields (no terminator, invalid UTF-8, newlines) are kept as they are", "[session]") {
  vigil::test::TempDir dir("vigil-utmp");
  const std::string utmp = dir.file("utmp");
  { std::ofstream(utmp).flush(); }
  vp::SessionSource src;
  vigil::agent::SessionCaptureSpec spec;
  spec.utmp_path = utmp;
  spec.logind = false;
  REQUIRE(src.start(spec).ok());

  utmpx probe{};
  std::string user(sizeof probe.ut_user, 'u');  // fills the field: no NUL
  user[0] = '\xff';
  user[5] = '\n';
  std::string host(sizeof probe.ut_host, 'h');
  host[3] = '\xc3';
  host[4] = '(';
  std::string line(sizeof probe.ut_line, 'l');
  line[1] = '\n';
  put_record(utmp, {USER_PROCESS, ::getpid(), line, "zz", user, host, 1700000000});
  std::vector<SessionActivity> got;
  REQUIRE(pump(src, got, [&] { return !got.empty(); }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].user == user);
  CHECK(got[0].remote_host == host);
  CHECK(got[0].tty == line);
  CHECK(got[0].uid == 0xffffffffu);
  auto e = vigil::agent::make_session_event(got[0]);
  std::string wire;
  REQUIRE(e.SerializeToString(&wire));
  CHECK(e.session().user().rfind("\\xff", 0) == 0);
  CHECK(e.session().remote_host().find("\\xc3(") != std::string::npos);

  // Garbage appended (a partial record) is ignored, not a crash.
  { std::ofstream(utmp, std::ios::app | std::ios::binary) << std::string(100, '\x7f'); }
  pump(src, got, [] { return false; }, 300ms);
  CHECK(got.size() == 1);
  CHECK(vp::parse_utmp(std::string(1000, '\x01')).size() == 1000 / sizeof(utmpx));
}

TEST_CASE("logind: the watch subscribes when logind is on the system bus", "[session]") {
  vp::LogindWatch w;
  auto s = w.start();
  if (!s) {
    WARN("SKIPPED: no logind on the system bus (" << s.error() << "); covered against a stand-in below");
    return;
  }
  CHECK(w.fd() >= 0);
  std::vector<SessionActivity> out;
  CHECK(w.drain(out).ok());
}

namespace {

// A private D-Bus daemon (the real dbus-daemon) and, on it, a stand-in for logind: one session
// object (/org/freedesktop/login1/session/_31, id "1") with the properties the watch reads and a
// LockedHint it can flip, served by its own thread as logind would be by its own process.
struct PrivateBus {
  pid_t pid = -1;
  std::string address;
  explicit PrivateBus(const vigil::test::TempDir& dir) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    std::string listen = "unix:path=" + dir.file("bus");
    pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      int devnull = ::open("/dev/null", O_WRONLY);  // its warnings (fd limits) are not ours
      if (devnull >= 0) ::dup2(devnull, 2);
      ::execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", "--print-address=1",
               ("--address=" + listen).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    char buf[512];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    ::close(out[0]);
    if (n > 0) address.assign(buf, static_cast<std::size_t>(n));
    while (!address.empty() && address.back() == '\n') address.pop_back();
  }
  ~PrivateBus() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
};

struct StandInLogind {
  std::atomic<bool> locked{false}, emit{false}, stop{false}, ready{false};
  std::thread thread;
  std::string error;

  static int get(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply, void* userdata,
                 sd_bus_error*) {
    auto* self = static_cast<StandInLogind*>(userdata);
    std::string p = property;
    if (p == "Name") return sd_bus_message_append(reply, "s", "root");
    if (p == "TTY") return sd_bus_message_append(reply, "s", "tty7");
    if (p == "RemoteHost") return sd_bus_message_append(reply, "s", "");
    if (p == "Type") return sd_bus_message_append(reply, "s", "x11");
    if (p == "Leader") return sd_bus_message_append(reply, "u", 4242u);
    return sd_bus_message_append(reply, "b", self->locked.load() ? 1 : 0);
  }

  void start() {
    thread = std::thread([this] {
      static const sd_bus_vtable vtable[] = {
          SD_BUS_VTABLE_START(0),
          SD_BUS_PROPERTY("Name", "s", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
          SD_BUS_PROPERTY("TTY", "s", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
          SD_BUS_PROPERTY("RemoteHost", "s", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
          SD_BUS_PROPERTY("Type", "s", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
          SD_BUS_PROPERTY("Leader", "u", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
          SD_BUS_PROPERTY("LockedHint", "b", &StandInLogind::get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
          SD_BUS_VTABLE_END};
      sd_bus* bus = nullptr;
      if (sd_bus_open_system(&bus) < 0 ||
          sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/login1/session/_31",
                                   "org.freedesktop.login1.Session", vtable, this) < 0 ||
          sd_bus_request_name(bus, "org.freedesktop.login1", 0) < 0) {
        error = "stand-in logind could not register";
        ready = true;
        sd_bus_flush_close_unref(bus);
        return;
      }
      ready = true;
      while (!stop) {
        if (emit.exchange(false))
          sd_bus_emit_properties_changed(bus, "/org/freedesktop/login1/session/_31", "org.freedesktop.login1.Session",
                                         "LockedHint", nullptr);
        while (sd_bus_process(bus, nullptr) > 0) {
        }
        sd_bus_wait(bus, 20000);
      }
      sd_bus_flush_close_unref(bus);
    });
    while (!ready) std::this_thread::sleep_for(5ms);
  }
  void set_locked(bool v) {
    locked = v;
    emit = true;
  }
  ~StandInLogind() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

// Sets an environment variable for the scope of the test.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const std::string& n, const std::string& v) : name(n) {
    if (const char* o = ::getenv(n.c_str())) old = o;
    ::setenv(n.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("logind: LockedHint changes are lock and unlock, through a real D-Bus daemon and a stand-in logind", "[session]") {
  if (::system("command -v dbus-daemon >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: dbus-daemon not installed; logind lock/unlock not tested");
    return;
  }
  vigil::test::TempDir dir("vigil-bus");
  PrivateBus bus(dir);
  REQUIRE_FALSE(bus.address.empty());
  ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", bus.address);  // sd_bus_open_system() connects here

  // Without logind on the bus the source runs on utmp alone.
  const std::string utmp = dir.file("utmp");
  { std::ofstream(utmp).flush(); }
  vigil::agent::SessionCaptureSpec spec;
  spec.utmp_path = utmp;
  {
    vp::SessionSource without;
    REQUIRE(without.start(spec).ok());
    CHECK_FALSE(without.logind_watched());
  }

  StandInLogind logind;
  logind.start();
  REQUIRE(logind.error.empty());
  vp::SessionSource src;
  REQUIRE(src.start(spec).ok());
  REQUIRE(src.logind_watched());

  std::vector<SessionActivity> got;
  logind.set_locked(true);
  REQUIRE(pump(src, got, [&] { return got.size() == 1; }));
  CHECK(got[0].action == SessionAction::Lock);
  CHECK(got[0].session_id == "1");
  CHECK(got[0].source == "logind");
  CHECK(got[0].user == "root");
  CHECK(got[0].uid == 0);
  CHECK(got[0].tty == "tty7");
  CHECK(got[0].kind == "x11");
  CHECK(got[0].leader_pid == 4242);
  // The same value again is not a second lock.
  logind.set_locked(true);
  pump(src, got, [] { return false; }, 300ms);
  CHECK(got.size() == 1);
  logind.set_locked(false);
  REQUIRE(pump(src, got, [&] { return got.size() == 2; }));
  CHECK(got[1].action == SessionAction::Unlock);
  CHECK(vigil::agent::make_session_event(got[1]).type() == "session.unlock");
}
