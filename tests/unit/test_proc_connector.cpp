// Process attribution through the netlink process connector: processes that exited long before
// their file activity is drained are still named (real kernel, needs root), and the history's
// generation / eviction logic on its own (no kernel).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "platform/linux/fanotify_source.h"
#include "platform/linux/proc_connector.h"
#include "platform/linux/proc_info.h"
#include "platform/linux/process_history.h"

using vigil::agent::CaptureSpec;
using vigil::agent::FileAction;
using vigil::agent::FileActivity;
using vigil::agent::ProcessInfo;
using vigil::platform::FanotifySource;
using vigil::platform::ProcessHistory;
using vigil::platform::ProcEvent;

namespace {

constexpr std::uint32_t kUnset = 0xffffffffu;
constexpr std::int64_t kSec = 1'000'000'000;

ProcessInfo info(std::uint32_t pid, const std::string& exe, std::uint32_t uid = 1000,
                 std::uint32_t login_uid = 1000) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = 1;
  p.exe = exe;
  p.comm = std::filesystem::path(exe).filename().string();
  p.uid = uid;
  p.login_uid = login_uid;
  return p;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vigil-proc-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string real_path(const char* p) {
  char* r = ::realpath(p, nullptr);
  std::string out = r != nullptr ? r : p;
  ::free(r);
  return out;
}

// No pid can be this large (pid_max is at most 2^22).
constexpr pid_t kImpossiblePid = 99'000'000;

}  // namespace

// --- ProcessHistory without a kernel ---------------------------------------------------------------

TEST_CASE("history: a reused pid is never mistaken for its predecessor", "[proc]") {
  ProcessHistory h;
  h.begin(100, 10 * kSec, 111, false, info(100, "/usr/bin/cp"));
  h.exited(100, 11 * kSec);
  h.begin(100, 12 * kSec, 222, false, info(100, "/usr/bin/evil"));

  // Queued before the newcomer began: the old process, although it has exited.
  auto a = h.find(100, 11 * kSec + 500);
  REQUIRE(a.match == ProcessHistory::Match::Found);
  CHECK(a.gen.info.exe == "/usr/bin/cp");
  CHECK(a.gen.start_ticks == 111);
  CHECK(a.gen.exited);
  CHECK_FALSE(a.running);
  // Queued after: the newcomer, which is still running.
  a = h.find(100, 13 * kSec);
  REQUIRE(a.match == ProcessHistory::Match::Found);
  CHECK(a.gen.info.exe == "/usr/bin/evil");
  CHECK(a.running);
  // Queued before anything we know of began: neither.
  a = h.find(100, 9 * kSec);
  CHECK(a.match == ProcessHistory::Match::Before);
  CHECK_FALSE(a.gen.by_exec);
  CHECK(h.find(101, 13 * kSec).match == ProcessHistory::Match::Unknown);
}

TEST_CASE("history: each exec starts a generation of the same pid", "[proc]") {
  ProcessHistory h;
  ProcessInfo forked = info(200, "/usr/bin/bash");
  h.begin(200, 10 * kSec, 5, false, forked);
  h.begin(200, 11 * kSec, 5, true, info(200, "/usr/bin/dash"));
  h.begin(200, 12 * kSec, 5, true, info(200, "/usr/bin/cp"));
  CHECK(h.find(200, 10 * kSec + 1).gen.info.exe == "/usr/bin/bash");
  CHECK(h.find(200, 11 * kSec + 1).gen.info.exe == "/usr/bin/dash");
  CHECK(h.find(200, 12 * kSec).gen.info.exe == "/usr/bin/cp");
  auto dash = h.find(200, 11 * kSec + 1).gen;
  CHECK(dash.ended);
  CHECK_FALSE(dash.exited);  // replaced by an exec, not exited
  CHECK(dash.ended_ns == 12 * kSec);
  CHECK(h.stats().generations == 3);
  // A pid first seen at an exec: before it, the same process ran something unknown.
  h.begin(300, 20 * kSec, 9, true, info(300, "/usr/bin/tar"));
  auto a = h.find(300, 19 * kSec);
  CHECK(a.match == ProcessHistory::Match::Before);
  CHECK(a.gen.by_exec);
}

TEST_CASE("history: uid changes and learned processes", "[proc]") {
  ProcessHistory h;
  h.begin(10, 1 * kSec, 0, false, info(10, "/usr/bin/sudo", 1000, 1000));
  h.set_uid(10, 0);
  CHECK(h.running(10)->info.uid == 0);
  CHECK(h.running(10)->info.login_uid == 1000);
  h.exited(10, 2 * kSec);
  h.set_uid(10, 55);  // after its exit: changes nothing
  CHECK_FALSE(h.running(10).has_value());
  CHECK(h.find(10, 3 * kSec).gen.info.uid == 0);

  // learn(): a process that predates the listener; never replaces a running generation.
  h.learn(20, 5 * kSec, 77, info(20, "/usr/sbin/sshd"));
  CHECK(h.find(20, 0).match == ProcessHistory::Match::Found);  // began "before we listened"
  h.learn(20, 6 * kSec, 78, info(20, "/usr/bin/other"));
  CHECK(h.running(20)->info.exe == "/usr/sbin/sshd");
  // Learned after its predecessor ended: began no earlier than that end.
  h.learn(10, 7 * kSec, 79, info(10, "/usr/bin/newer"));
  CHECK(h.find(10, 2 * kSec - 1).gen.info.exe == "/usr/bin/sudo");
  CHECK(h.find(10, 2 * kSec).gen.info.exe == "/usr/bin/newer");
}

TEST_CASE("history: exited processes are kept for the grace period, then dropped", "[proc]") {
  ProcessHistory::Limits lim;
  lim.capacity = 100;
  lim.grace_ns = 30 * kSec;
  ProcessHistory h(lim);
  h.begin(1, 1 * kSec, 0, false, info(1, "/a"));
  h.exited(1, 2 * kSec);
  h.begin(2, 31 * kSec, 0, false, info(2, "/b"));  // 29 s after the exit: still kept
  CHECK(h.find(1, 2 * kSec).match == ProcessHistory::Match::Found);
  h.begin(3, 32 * kSec, 0, false, info(3, "/c"));  // 30 s after: gone
  CHECK(h.find(1, 2 * kSec).match == ProcessHistory::Match::Unknown);
  CHECK(h.stats().expired == 1);
  // Running processes are never expired by time.
  h.exited(3, 1000 * kSec);
  CHECK(h.find(2, 1000 * kSec).running);
  CHECK(h.find(3, 1000 * kSec).match == ProcessHistory::Match::Found);  // just exited: kept
  CHECK(h.stats().generations == 2);
}

TEST_CASE("history: when full, the longest-exited go first, running ones last", "[proc]") {
  ProcessHistory::Limits lim;
  lim.capacity = 4;
  lim.grace_ns = 1000 * kSec;
  ProcessHistory h(lim);
  h.begin(1, 1 * kSec, 0, false, info(1, "/one"));
  h.begin(2, 2 * kSec, 0, false, info(2, "/two"));
  h.begin(3, 3 * kSec, 0, false, info(3, "/three"));
  h.begin(4, 4 * kSec, 0, false, info(4, "/four"));
  h.exited(3, 5 * kSec);  // exited first
  h.exited(2, 6 * kSec);
  h.begin(5, 7 * kSec, 0, false, info(5, "/five"));  // full: 3 goes, though within its grace
  CHECK(h.find(3, 7 * kSec).match == ProcessHistory::Match::Unknown);
  CHECK(h.find(2, 7 * kSec).match == ProcessHistory::Match::Found);
  CHECK(h.find(1, 7 * kSec).running);
  h.begin(6, 8 * kSec, 0, false, info(6, "/six"));  // then 2
  CHECK(h.find(2, 8 * kSec).match == ProcessHistory::Match::Unknown);
  CHECK(h.stats().evicted_in_grace == 2);
  CHECK(h.stats().generations == 4);
  // All running: the oldest running one goes.
  h.begin(7, 9 * kSec, 0, false, info(7, "/seven"));
  CHECK(h.find(1, 9 * kSec).match == ProcessHistory::Match::Unknown);
  CHECK(h.find(4, 9 * kSec).running);
  CHECK(h.find(7, 9 * kSec).running);
  CHECK(h.stats().evicted_running == 1);
  CHECK(h.stats().generations == 4);
}

TEST_CASE("history: memory stays bounded under pid churn", "[proc]") {
  ProcessHistory::Limits lim;
  lim.capacity = 1000;
  lim.per_pid = 4;
  ProcessHistory h(lim);
  std::int64_t t = 0;
  for (int i = 0; i < 200'000; ++i) {
    const pid_t pid = 300 + (i % 50);  // heavy reuse of few pids
    h.begin(pid, ++t, 0, false, info(static_cast<std::uint32_t>(pid), "/x"));
    h.begin(pid, ++t, 0, true, info(static_cast<std::uint32_t>(pid), "/y"));
    h.exited(pid, ++t);
  }
  CHECK(h.stats().generations <= 1000);
  CHECK(h.stats().pids <= 50);
  for (int i = 0; i < 200'000; ++i) {
    const pid_t pid = 1000 + i;  // many pids
    h.begin(pid, ++t, 0, false, info(static_cast<std::uint32_t>(pid), "/z"));
    if (i % 3 != 0) h.exited(pid, ++t);
  }
  CHECK(h.stats().generations <= 1000);
  // The newest is there, whatever was evicted.
  CHECK(h.find(1000 + 199'999, t).gen.info.exe == "/z");
}

TEST_CASE("the process cache answers from the history once a process is gone", "[proc]") {
  auto h = std::make_shared<ProcessHistory>();
  vigil::platform::ProcessInfoCache cache;
  cache.use_history(h);
  // Gone (the pid cannot exist): the recorded generation, with its user named.
  h->begin(kImpossiblePid, 10 * kSec, 42, false, info(kImpossiblePid, "/usr/bin/cp", 0, 0));
  cache.new_batch(11 * kSec);
  ProcessInfo p = cache.lookup(kImpossiblePid);
  CHECK(p.exe == "/usr/bin/cp");
  CHECK(p.user == "root");
  // Queued before that generation began: not attributed to it.
  cache.new_batch(9 * kSec);
  p = cache.lookup(kImpossiblePid);
  CHECK(p.pid == static_cast<std::uint32_t>(kImpossiblePid));
  CHECK(p.exe.empty());
  CHECK(p.user.empty());
  // ... unless it began with an exec: same process, same users, program unknown.
  h->begin(kImpossiblePid + 1, 10 * kSec, 43, true, info(kImpossiblePid + 1, "/usr/bin/tar", 0, 0));
  p = cache.lookup(kImpossiblePid + 1);
  CHECK(p.exe.empty());
  CHECK(p.login_uid == 0);
  CHECK(p.user == "root");
  // Pids the history does not know: /proc as before.
  cache.new_batch();
  p = cache.lookup(::getpid());
  CHECK(p.exe == std::filesystem::read_symlink("/proc/self/exe").string());
  // A running generation is read live, not from the record: the start time must match.
  h->begin(::getpid(), 1 * kSec, 1, false, info(static_cast<std::uint32_t>(::getpid()), "/recorded"));
  cache.new_batch(2 * kSec);
  CHECK(cache.lookup(::getpid()).exe == "/recorded");  // start ticks 1: not us, so the record
}

TEST_CASE("connector datagrams are parsed field by field, malformed ones skipped", "[proc]") {
  // Built the way the kernel lays them out: nlmsghdr, cn_msg, proc_event.
  auto datagram = [](std::uint32_t what, std::uint64_t ts, std::vector<std::uint32_t> data,
                     std::uint32_t ack = 0) {
    std::vector<char> out(NLMSG_SPACE(sizeof(cn_msg) + 16 + 24), '\0');
    nlmsghdr nlh{};
    nlh.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(sizeof(cn_msg) + 16 + 24));
    nlh.nlmsg_type = NLMSG_DONE;
    std::memcpy(out.data(), &nlh, sizeof nlh);
    char* cn = out.data() + NLMSG_HDRLEN;
    const std::uint32_t idx = CN_IDX_PROC, val = CN_VAL_PROC;
    const std::uint16_t len = 16 + 24;
    std::memcpy(cn + offsetof(cn_msg, id), &idx, 4);
    std::memcpy(cn + offsetof(cn_msg, id) + 4, &val, 4);
    std::memcpy(cn + offsetof(cn_msg, ack), &ack, 4);
    std::memcpy(cn + offsetof(cn_msg, len), &len, 2);
    char* ev = cn + sizeof(cn_msg);
    std::memcpy(ev, &what, 4);
    std::memcpy(ev + 8, &ts, 8);  // unaligned in the datagram, as from the kernel
    for (std::size_t i = 0; i < data.size(); ++i) std::memcpy(ev + 16 + 4 * i, &data[i], 4);
    return out;
  };
  std::vector<ProcEvent> got;
  auto collect = [&](const ProcEvent& e) { got.push_back(e); };
  auto fork = datagram(0x1, 123456789012345, {10, 10, 11, 11});
  auto exec = datagram(0x2, 5, {11, 11});
  auto uid = datagram(0x4, 6, {12, 11, 1000, 0});
  auto exit_thread = datagram(0x80000000u, 7, {13, 11, 0, 17});
  auto ack = datagram(0x0, 8, {static_cast<std::uint32_t>(-EPERM)}, 43);
  for (auto* d : {&fork, &exec, &uid, &exit_thread, &ack}) vigil::platform::parse_connector_datagram(d->data(), d->size(), collect);
  REQUIRE(got.size() == 5);
  CHECK(got[0].kind == ProcEvent::Kind::Fork);
  CHECK(got[0].time_ns == 123456789012345);
  CHECK(got[0].parent_tgid == 10);
  CHECK(got[0].pid == 11);
  CHECK(got[0].tgid == 11);
  CHECK(got[1].kind == ProcEvent::Kind::Exec);
  CHECK(got[1].tgid == 11);
  CHECK(got[2].kind == ProcEvent::Kind::Uid);
  CHECK(got[2].pid == 12);
  CHECK(got[2].tgid == 11);
  CHECK(got[2].uid == 1000);
  CHECK(got[3].kind == ProcEvent::Kind::Exit);
  CHECK(got[3].pid == 13);
  CHECK(got[4].kind == ProcEvent::Kind::Ack);
  CHECK(got[4].ack == 43);
  CHECK(got[4].err == -EPERM);

  got.clear();
  auto truncated = fork;
  vigil::platform::parse_connector_datagram(truncated.data(), NLMSG_HDRLEN + 10, collect);
  auto other_connector = fork;
  const std::uint32_t idx = CN_IDX_PROC + 1;
  std::memcpy(other_connector.data() + NLMSG_HDRLEN, &idx, 4);
  vigil::platform::parse_connector_datagram(other_connector.data(), other_connector.size(), collect);
  auto lying_len = fork;
  const std::uint16_t huge = 60000;
  std::memcpy(lying_len.data() + NLMSG_HDRLEN + offsetof(cn_msg, len), &huge, 2);
  vigil::platform::parse_connector_datagram(lying_len.data(), lying_len.size(), collect);
  vigil::platform::parse_connector_datagram(fork.data(), 3, collect);
  CHECK(got.empty());
}

// --- against the kernel --------------------------------------------------------------------------

TEST_CASE("short-lived writers drained long after they exited keep exe, uid and login uid", "[proc]") {
  TempDir dir;
  FanotifySource::Options opt;
  opt.drop_own_events = false;
  FanotifySource src(opt);
  auto st = src.start({{dir.path}, {}});
  INFO("start: " << (st.ok() ? std::string("ok") : st.error()));
  REQUIRE(st.ok());
  if (!src.using_proc_connector()) FAIL("the process connector could not be opened (root, initial pid namespace needed)");

  constexpr int kWriters = 40;
  const std::string dash = real_path("/bin/sh");
  // Everything the forked children need is prepared before fork(): this process has threads.
  std::vector<std::string> commands, paths;
  for (int i = 0; i < kWriters; ++i) {
    paths.push_back(dir.path + "/f" + std::to_string(i));
    commands.push_back("echo x > " + paths.back());
  }
  int up[2];
  REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
  // A launcher that sets its login uid (as pam_loginuid does for a session), then starts the
  // writers one after another; each exits at once.
  const pid_t launcher = ::fork();
  REQUIRE(launcher >= 0);
  if (launcher == 0) {
    int fd = ::open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
    char set = (fd >= 0 && ::write(fd, "4242", 4) == 4) ? 'y' : 'n';
    if (fd >= 0) ::close(fd);
    for (int i = 0; i < kWriters; ++i) {
      pid_t w = ::fork();
      if (w == 0) {
        ::execl("/bin/sh", "sh", "-c", commands[static_cast<std::size_t>(i)].c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      int status = 0;
      if (w > 0) ::waitpid(w, &status, 0);
    }
    (void)!::write(up[1], &set, 1);
    ::_exit(0);
  }
  ::close(up[1]);
  char set = 'n';
  REQUIRE(::read(up[0], &set, 1) == 1);
  ::close(up[0]);
  int status = 0;
  REQUIRE(::waitpid(launcher, &status, 0) == launcher);
  std::uint32_t expected_login = 4242;
  if (set != 'y') {
    // Immutable once set (audit loginuid_immutable): the writers inherit ours.
    std::ifstream in("/proc/self/loginuid");
    in >> expected_login;
    WARN("loginuid could not be set; expecting the inherited " << expected_login);
  }
  // Every writer is gone (and reaped) well before anything is drained.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  std::map<std::string, FileActivity> writes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (writes.size() < static_cast<std::size_t>(kWriters) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{src.pollable_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    auto r = src.drain([&](FileActivity&& a) {
      if (a.action == FileAction::Write) writes[a.path] = std::move(a);
    });
    REQUIRE(r.ok());
  }
  REQUIRE(writes.size() == static_cast<std::size_t>(kWriters));

  const passwd* pw = ::getpwuid(expected_login);
  const std::string expected_user = expected_login == kUnset ? vigil::platform::user_name(::getuid())
                                    : pw != nullptr ? std::string(pw->pw_name)
                                                    : std::to_string(expected_login);
  int with_exe = 0, right_uid = 0, right_login = 0, right_parent = 0;
  for (const auto& [path, w] : writes) {
    const bool exe_ok = w.process.exe == dash || w.process.exe == "/bin/dash";
    with_exe += exe_ok;
    right_uid += w.process.uid == ::getuid();
    right_login += w.process.login_uid == expected_login && w.process.user == expected_user;
    right_parent += w.process.ppid == static_cast<std::uint32_t>(launcher);
    if (!exe_ok) {
      WARN(path << ": pid " << w.process.pid << " exe \"" << w.process.exe << "\" comm \""
                << w.process.comm << "\" uid " << w.process.uid << " login " << w.process.login_uid);
    }
  }
  const auto& c = src.counters();
  WARN("writers drained 200 ms after exiting: " << with_exe << "/" << kWriters << " with exe " << dash
       << ", " << right_uid << " uid, " << right_login << " login uid " << expected_login << ", "
       << right_parent << " parent; process events " << c.process_events << ", exec unread "
       << c.process_exec_unread << ", lost " << c.process_events_lost);
  CHECK(with_exe >= kWriters - 2);
  CHECK(right_uid >= kWriters - 2);
  CHECK(right_login >= kWriters - 2);
  CHECK(right_parent >= kWriters - 2);
}

TEST_CASE("without the process connector the source still works from /proc", "[proc]") {
  TempDir dir;
  FanotifySource::Options opt;
  opt.drop_own_events = false;
  opt.use_proc_connector = false;
  FanotifySource src(opt);
  REQUIRE(src.start({{dir.path}, {}}).ok());
  CHECK_FALSE(src.using_proc_connector());
  const std::string f = dir.path + "/mine";
  { std::ofstream(f) << "x"; }
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    pollfd p{src.pollable_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    auto r = src.drain([&](FileActivity&& a) {
      if (a.action == FileAction::Write && a.path == f) {
        seen = true;
        CHECK(a.process.pid == static_cast<std::uint32_t>(::getpid()));
        CHECK(a.process.exe == std::filesystem::read_symlink("/proc/self/exe").string());
      }
    });
    REQUIRE(r.ok());
  }
  CHECK(seen);
  CHECK(src.counters().process_events == 0);
}

TEST_CASE("the connector records a fork and exec it sees, and stops cleanly", "[proc]") {
  auto history = std::make_shared<ProcessHistory>();
  auto c = vigil::platform::ProcConnector::open(history);
  INFO((c.ok() ? std::string("ok") : c.error()));
  REQUIRE(c.ok());
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "0.2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  (*c)->pump();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*c)->pump();
  auto a = history->find(pid, std::numeric_limits<std::int64_t>::max());
  REQUIRE(a.match == ProcessHistory::Match::Found);
  CHECK(a.gen.by_exec);
  CHECK(a.gen.exited);
  CHECK(a.gen.info.exe == real_path("/bin/sleep"));
  CHECK(a.gen.info.comm == "sleep");
  CHECK(a.gen.info.ppid == static_cast<std::uint32_t>(::getpid()));
  CHECK(a.gen.info.parent_exe == std::filesystem::read_symlink("/proc/self/exe").string());
  CHECK(a.gen.start_ticks != 0);
  // Before the exec: the forked copy of this process.
  auto forked = history->find(pid, a.gen.since_ns - 1);
  REQUIRE(forked.match == ProcessHistory::Match::Found);
  CHECK(forked.gen.info.exe == std::filesystem::read_symlink("/proc/self/exe").string());
  CHECK(forked.gen.ended);
  CHECK_FALSE(forked.gen.exited);  // ended by the exec
  const auto counters = (*c)->counters();
  CHECK(counters.forks >= 1);
  CHECK(counters.execs >= 1);
  CHECK(counters.exits >= 1);
  WARN("connector thread scheduling: " << (*c)->scheduling());
  c->reset();  // joins the thread
}
