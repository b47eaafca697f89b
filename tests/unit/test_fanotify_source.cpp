// FanotifySource against the real kernel: every stimulus is a real file operation under a mkdtemp
// directory, every expectation is what drain() handed over. Needs root (CAP_SYS_ADMIN).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "platform/linux/fanotify_source.h"
#include "platform/linux/proc_info.h"
#include "platform/linux/unique_fd.h"

using vigil::agent::CaptureSpec;
using vigil::agent::FileAction;
using vigil::agent::FileActivity;
using vigil::platform::FanotifySource;
using vigil::platform::UniqueFd;

namespace {

using Clock = std::chrono::steady_clock;

// Removes a tree through directory fds, so trees deeper than PATH_MAX go too.
void remove_tree_at(int parent_fd, const char* name) {
  int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
    } else {
      std::vector<std::string> names;
      while (dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      }
      for (const auto& n : names) {
        if (::unlinkat(fd, n.c_str(), 0) != 0 && (errno == EISDIR || errno == EPERM)) remove_tree_at(fd, n.c_str());
      }
      ::closedir(d);
    }
  }
  ::unlinkat(parent_fd, name, AT_REMOVEDIR);
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vigil-fan-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { remove_tree_at(AT_FDCWD, path.c_str()); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

void write_file(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644));
  REQUIRE(fd.valid());
  REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
}

std::string self_exe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

FanotifySource::Options keep_own() {
  FanotifySource::Options o;
  o.drop_own_events = false;  // our own file operations are the stimulus
  return o;
}

std::unique_ptr<FanotifySource> start_source(const CaptureSpec& spec,
                                             FanotifySource::Options opt = keep_own()) {
  auto src = std::make_unique<FanotifySource>(opt);
  auto st = src->start(spec);
  INFO("start: " << (st.ok() ? std::string("ok") : st.error()));
  REQUIRE(st.ok());
  return src;
}

// Polls and drains until `done` holds or the timeout passes.
struct Collector {
  FanotifySource& src;
  std::vector<FileActivity> got;
  std::uint64_t overflows = 0;

  bool until(const std::function<bool()>& done, int timeout_ms = 5000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{src.pollable_fd(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
      auto r = src.drain([&](FileActivity&& a) { got.push_back(std::move(a)); });
      REQUIRE(r.ok());
      overflows += r->overflows;
    }
    return true;
  }

  const FileActivity* find(FileAction action, const std::string& path) const {
    for (const auto& a : got)
      if (a.action == action && a.path == path) return &a;
    return nullptr;
  }
  bool seen(FileAction action, const std::string& path) const { return find(action, path) != nullptr; }
  bool wait_for(FileAction action, const std::string& path, int timeout_ms = 5000) {
    return until([&] { return seen(action, path); }, timeout_ms);
  }
  std::size_t index_of(FileAction action, const std::string& path) const {
    for (std::size_t i = 0; i < got.size(); ++i)
      if (got[i].action == action && got[i].path == path) return i;
    return got.size();
  }
  // Any activity at or below `root` (a path prefix, not a string prefix).
  bool any_under(const std::string& root) const {
    auto under = [&](const std::string& p) {
      return p.rfind(root, 0) == 0 && (p.size() == root.size() || p[root.size()] == '/');
    };
    return std::any_of(got.begin(), got.end(),
                       [&](const FileActivity& a) { return under(a.path) || under(a.old_path); });
  }
};

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

TEST_CASE("create then close-write arrive in order with path, size and process", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string f = dir / "report.txt";
  write_file(f, "twelve bytes");

  REQUIRE(c.wait_for(FileAction::Write, f));
  REQUIRE(c.seen(FileAction::Create, f));
  CHECK(c.index_of(FileAction::Create, f) < c.index_of(FileAction::Write, f));
  const FileActivity& w = *c.find(FileAction::Write, f);
  CHECK(w.size == 12);
  CHECK(w.inode != 0);
  CHECK(w.mtime_ns > 0);
  CHECK_FALSE(w.is_dir);
  CHECK(w.time_ns > 1'600'000'000'000'000'000);
  CHECK(w.process.pid == static_cast<std::uint32_t>(::getpid()));
  CHECK(w.process.ppid == static_cast<std::uint32_t>(::getppid()));
  CHECK(w.process.exe == self_exe());
  CHECK(w.process.uid == ::getuid());
  CHECK_FALSE(w.process.user.empty());
  CHECK_FALSE(w.process.comm.empty());
}

TEST_CASE("rename, delete and mkdir are reported", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  REQUIRE(src->using_fan_rename());  // kernel >= 5.17
  Collector c{*src};
  const std::string a = dir / "a.txt", b = dir / "b.txt", sub = dir / "sub";
  write_file(a, "x");
  REQUIRE(::rename(a.c_str(), b.c_str()) == 0);
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  REQUIRE(::unlink(b.c_str()) == 0);
  REQUIRE(::rmdir(sub.c_str()) == 0);

  REQUIRE(c.wait_for(FileAction::Delete, sub));
  const FileActivity* r = c.find(FileAction::Rename, b);
  REQUIRE(r != nullptr);
  CHECK(r->old_path == a);
  CHECK_FALSE(r->is_dir);  // its size is whatever is there when read: b may be gone already
  const FileActivity* mk = c.find(FileAction::Create, sub);
  REQUIRE(mk != nullptr);
  CHECK(mk->is_dir);
  const FileActivity* del = c.find(FileAction::Delete, b);
  REQUIRE(del != nullptr);
  CHECK(del->size == 0);
  CHECK_FALSE(del->is_dir);
  CHECK(c.find(FileAction::Delete, sub)->is_dir);
  // Kernel order is preserved.
  CHECK(c.index_of(FileAction::Rename, b) < c.index_of(FileAction::Create, sub));
  CHECK(c.index_of(FileAction::Create, sub) < c.index_of(FileAction::Delete, b));
}

TEST_CASE("a renamed directory's new path is used afterwards", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string d1 = dir / "d1", d2 = dir / "d2";
  REQUIRE(::mkdir(d1.c_str(), 0755) == 0);
  write_file(d1 + "/first", "1");
  REQUIRE(c.wait_for(FileAction::Write, d1 + "/first"));  // d1's path is now cached
  REQUIRE(::rename(d1.c_str(), d2.c_str()) == 0);
  write_file(d2 + "/second", "2");
  REQUIRE(c.wait_for(FileAction::Write, d2 + "/second"));
  const FileActivity* r = c.find(FileAction::Rename, d2);
  REQUIRE(r != nullptr);
  CHECK(r->is_dir);
  CHECK(r->old_path == d1);
  CHECK_FALSE(c.seen(FileAction::Create, d1 + "/second"));
}

TEST_CASE("moves into and out of the watched directory are renames", "[fanotify]") {
  TempDir dir, outside;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string in = dir / "in", out = outside / "out";
  write_file(out, "from outside");
  REQUIRE(::rename(out.c_str(), in.c_str()) == 0);
  REQUIRE(::rename(in.c_str(), out.c_str()) == 0);
  REQUIRE(c.until([&] { return c.got.size() >= 2; }));
  REQUIRE(c.got.size() == 2);
  CHECK(c.got[0].action == FileAction::Rename);
  CHECK(c.got[0].old_path == out);
  CHECK(c.got[0].path == in);
  CHECK(c.got[1].action == FileAction::Rename);
  CHECK(c.got[1].old_path == in);
  CHECK(c.got[1].path == out);
}

TEST_CASE("activity outside the watch paths or under an exclude path is not reported", "[fanotify]") {
  TempDir dir, outside;
  const std::string excluded = dir / "agent-data";
  REQUIRE(::mkdir(excluded.c_str(), 0700) == 0);
  auto src = start_source({{dir.path}, {excluded}});
  Collector c{*src};
  write_file(outside / "elsewhere.txt", "no");
  write_file(excluded + "/spool.db", "no");
  REQUIRE(::mkdir((excluded + "/deeper").c_str(), 0700) == 0);
  write_file(excluded + "/deeper/x", "no");
  // A sibling that merely shares the prefix is not excluded.
  const std::string sibling = dir / "agent-data2";
  write_file(sibling, "yes");
  REQUIRE(c.wait_for(FileAction::Write, sibling));  // kernel order: everything above came first
  CHECK_FALSE(c.any_under(outside.path));
  CHECK_FALSE(c.any_under(excluded));
  CHECK(src->counters().out_of_scope > 0);
}

TEST_CASE("the agent's own activity is dropped, a child's is not", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}}, FanotifySource::Options{});
  Collector c{*src};
  const std::string mine = dir / "mine", childs = dir / "childs";
  write_file(mine, "own");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open(childs.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ::_exit(fd >= 0 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(c.wait_for(FileAction::Create, childs));
  CHECK(c.find(FileAction::Create, childs)->process.pid == static_cast<std::uint32_t>(pid));
  CHECK_FALSE(c.any_under(mine));
  CHECK(src->counters().own >= 1);  // create and close-write may arrive merged
}

TEST_CASE("the login uid survives a process staying uid 0 (sudo keeps the real user)", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}}, FanotifySource::Options{});
  Collector c{*src};
  const std::string f = dir / "by-child";
  int up[2], down[2];
  REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
    char set = (fd >= 0 && ::write(fd, "4242", 4) == 4) ? 'y' : 'n';
    if (fd >= 0) ::close(fd);
    int out = ::open(f.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (out >= 0) ::close(out);
    (void)!::write(up[1], &set, 1);
    char go = 0;
    (void)!::read(down[0], &go, 1);  // stay alive until the parent has looked at /proc/<pid>
    ::_exit(0);
  }
  char set = 0;
  REQUIRE(::read(up[0], &set, 1) == 1);
  std::uint32_t expected = 4242;
  if (set == 'y') {
    WARN("loginuid: the child set its own loginuid to 4242 (it stays uid 0)");
  } else {
    std::ifstream in("/proc/" + std::to_string(pid) + "/loginuid");
    in >> expected;
    WARN("loginuid: could not be set (already set and immutable); checking the inherited value "
         << expected << " instead");
  }
  const bool seen = c.wait_for(FileAction::Write, f);
  (void)!::write(down[1], "g", 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
  REQUIRE(seen);
  const FileActivity& w = *c.find(FileAction::Write, f);
  CHECK(w.process.pid == static_cast<std::uint32_t>(pid));
  CHECK(w.process.uid == ::getuid());
  CHECK(w.process.login_uid == expected);
  if (set == 'y') {
    const passwd* pw = ::getpwuid(4242);
    CHECK(w.process.user == (pw != nullptr ? std::string(pw->pw_name) : std::string("4242")));
  } else {
    CHECK(w.process.user == vigil::platform::user_name(expected == 0xffffffffu ? ::getuid() : expected));
  }
}

TEST_CASE("hostile names come through byte-exact", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::vector<std::string> names = {"new\nline", std::string("bad\xff\xfe-utf8"),
                                          std::string(255, 'n'), " lead and trail ", "back\\slash"};
  for (const auto& n : names) write_file(dir / n, n);
  for (const auto& n : names) {
    INFO("name: " << printable(n));
    REQUIRE(c.wait_for(FileAction::Write, dir / n));
    CHECK(c.seen(FileAction::Create, dir / n));
    CHECK(c.find(FileAction::Write, dir / n)->size == n.size());
  }
  // A directory with a newline in its name, and a file inside it.
  const std::string nl_dir = dir / "dir\nname";
  REQUIRE(::mkdir(nl_dir.c_str(), 0755) == 0);
  write_file(nl_dir + "/inside", "i");
  CHECK(c.wait_for(FileAction::Write, nl_dir + "/inside"));
}

TEST_CASE("nested directories are covered, down to paths near and beyond PATH_MAX", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};

  SECTION("five levels") {
    std::string p = dir.path;
    for (const char* level : {"l1", "l2", "l3", "l4", "l5"}) {
      p += "/";
      p += level;
      REQUIRE(::mkdir(p.c_str(), 0755) == 0);
    }
    write_file(p + "/deep.txt", "deep");
    REQUIRE(c.wait_for(FileAction::Write, p + "/deep.txt"));
    CHECK(c.find(FileAction::Write, p + "/deep.txt")->size == 4);
    CHECK(c.seen(FileAction::Create, p));
    CHECK(c.find(FileAction::Create, p)->is_dir);
  }

  SECTION("a file path of 4090 bytes") {
    std::string p = dir.path;
    while (p.size() + 251 <= 3840) {
      p += "/" + std::string(250, 'd');
      REQUIRE(::mkdir(p.c_str(), 0755) == 0);
    }
    if (p.size() + 1 < 3840) {
      p += "/" + std::string(3840 - p.size() - 1, 'e');
      REQUIRE(::mkdir(p.c_str(), 0755) == 0);
    }
    const std::string f = p + "/" + std::string(4090 - p.size() - 1, 'f');
    REQUIRE(f.size() == 4090);
    write_file(f, "near");
    REQUIRE(c.wait_for(FileAction::Write, f));
    CHECK(c.find(FileAction::Write, f)->size == 4);
  }

  SECTION("a directory deeper than PATH_MAX") {
    // Built through directory fds: no path syscall can reach it.
    UniqueFd at(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::string p = dir.path;
    const std::string comp(200, 'x');
    while (p.size() < 5000) {
      REQUIRE(::mkdirat(at.get(), comp.c_str(), 0755) == 0);
      at.reset(::openat(at.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      REQUIRE(at.valid());
      p += "/" + comp;
    }
    UniqueFd f(::openat(at.get(), "beyond", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    REQUIRE(f.valid());
    REQUIRE(::write(f.get(), "far", 3) == 3);
    f.reset();
    REQUIRE(c.wait_for(FileAction::Write, p + "/beyond", 10000));
    CHECK(c.find(FileAction::Write, p + "/beyond")->size == 3);  // stat through the handle
    CHECK(c.find(FileAction::Write, p + "/beyond")->content == vigil::ContentType::Text);  // read through it
  }
}

TEST_CASE("a written file's content type comes with its Write, read through its directory", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string pdf = dir / "renamed.txt", text = dir / "plain.txt", empty = dir / "empty.bin";
  write_file(pdf, "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n");
  write_file(text, "just words\n");
  write_file(empty, "");
  const std::string fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE(c.wait_for(FileAction::Write, empty));
  CHECK(c.find(FileAction::Write, pdf)->content == vigil::ContentType::Pdf);
  CHECK(c.find(FileAction::Write, text)->content == vigil::ContentType::Text);
  CHECK(c.find(FileAction::Write, empty)->content == vigil::ContentType::Unknown);
  // Only writes are read: a create alone says nothing of content, and a FIFO is never opened.
  REQUIRE(c.wait_for(FileAction::Create, fifo));
  CHECK_FALSE(c.find(FileAction::Create, fifo)->content.has_value());
  CHECK_FALSE(c.find(FileAction::Create, text)->content.has_value());
}

TEST_CASE("2000 files created quickly all come through", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  constexpr int kFiles = 2000;
  std::atomic<bool> stop{false};
  std::atomic<bool> creating{true};
  std::set<std::string> created, written;
  std::uint64_t overflows = 0;
  // The agent drains concurrently with the activity; so does this consumer. It gives up 10 s
  // after the last file was created (creation itself can be slow on a busy disk).
  std::thread consumer([&] {
    auto deadline = Clock::time_point::max();
    while (!stop && (created.size() < kFiles || written.size() < kFiles)) {
      if (!creating && deadline == Clock::time_point::max()) deadline = Clock::now() + std::chrono::seconds(10);
      if (Clock::now() > deadline) break;
      pollfd p{src->pollable_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      auto r = src->drain([&](FileActivity&& a) {
        if (a.action == FileAction::Create) created.insert(a.path);
        if (a.action == FileAction::Write) written.insert(a.path);
      });
      if (!r.ok()) break;
      overflows += r->overflows;
    }
  });
  const auto t0 = Clock::now();
  int failed_creates = 0;  // no REQUIRE while the consumer thread runs: it would terminate
  for (int i = 0; i < kFiles; ++i) {
    UniqueFd fd(::open((dir / ("f" + std::to_string(i))).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!fd.valid()) ++failed_creates;
  }
  const double create_s = std::chrono::duration<double>(Clock::now() - t0).count();
  creating = false;
  if (failed_creates > 0) stop = true;
  consumer.join();
  REQUIRE(failed_creates == 0);
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  WARN("2000 files: created in " << create_s * 1000 << " ms; " << created.size() + written.size()
                                 << " activities delivered after " << total_s * 1000 << " ms");
  CHECK(overflows == 0);
  CHECK(created.size() == kFiles);
  CHECK(written.size() == kFiles);
}

TEST_CASE("drain throughput (events/s), printed", "[fanotify]") {
  TempDir dir, other;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  // 2000 files = 4000 activities in at most 4000 records (the kernel merges a file's create and
  // close-write into one when they are queued together), well below the 16384-record queue: the
  // mark covers the whole filesystem, so tests running beside this one fill the same queue.
  // The throughput figure that matters is bench_fanotify's (docs/BENCHMARKS.md).
  constexpr int kFiles = 2000;
  auto measure = [&](const TempDir& where, const char* label, bool in_scope) {
    for (int i = 0; i < kFiles; ++i) {
      UniqueFd fd(::open((where / ("t" + std::to_string(i))).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      REQUIRE(fd.valid());
    }
    const std::string marker = dir / (std::string("marker-") + label);
    write_file(marker, "m");
    const auto records_before = src->counters().records;
    const auto activities_before = c.got.size();
    const auto t0 = Clock::now();
    REQUIRE(c.wait_for(FileAction::Write, marker, 20000));
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto records = src->counters().records - records_before;
    const auto activities = c.got.size() - activities_before;
    WARN(label << ": " << records << " records, " << activities << " activities in " << s * 1000
               << " ms = " << static_cast<long long>(static_cast<double>(records) / s) << " records/s, "
               << static_cast<long long>(static_cast<double>(activities) / s) << " activities/s");
    CHECK(c.overflows == 0);
    if (in_scope) CHECK(activities >= 2 * kFiles);
  };
  measure(dir, "reported (create+write)", true);
  measure(other, "filtered out (other dir, same filesystem)", false);
}

TEST_CASE("legacy FAN_MOVED_FROM/FAN_MOVED_TO pairing gives the same renames", "[fanotify]") {
  TempDir dir;
  FanotifySource::Options opt = keep_own();
  opt.use_fan_rename = false;
  auto src = start_source({{dir.path}, {}}, opt);
  CHECK_FALSE(src->using_fan_rename());
  Collector c{*src};
  const std::string a = dir / "a", b = dir / "b", d1 = dir / "d1", d2 = dir / "d2";
  write_file(a, "abc");
  REQUIRE(::rename(a.c_str(), b.c_str()) == 0);
  REQUIRE(::mkdir(d1.c_str(), 0755) == 0);
  REQUIRE(::rename(d1.c_str(), d2.c_str()) == 0);
  write_file(d2 + "/in", "x");
  REQUIRE(c.wait_for(FileAction::Write, d2 + "/in"));
  const FileActivity* r = c.find(FileAction::Rename, b);
  REQUIRE(r != nullptr);
  CHECK(r->old_path == a);
  CHECK(r->size == 3);
  const FileActivity* rd = c.find(FileAction::Rename, d2);
  REQUIRE(rd != nullptr);
  CHECK(rd->old_path == d1);
  CHECK(rd->is_dir);
  CHECK(src->counters().unpaired_moves == 0);
}

TEST_CASE("a filesystem mounted below a watch path after start is covered", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string mnt = dir / "usb";
  REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
  if (::mount("vigil-test", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    WARN("mount(tmpfs) failed (" << std::strerror(errno) << "); skipping");
    return;
  }
  // The mount-table change wakes the pollable fd; the next drain marks the new filesystem.
  const auto rescans = src->counters().mount_rescans;
  const bool woke = c.until([&] { return src->counters().mount_rescans > rescans; }, 3000);
  write_file(mnt + "/copied.pdf", "secret");
  const bool seen = c.wait_for(FileAction::Write, mnt + "/copied.pdf");
  // No fd of ours keeps the stick busy.
  const int umount_rc = ::umount2(mnt.c_str(), 0);
  if (umount_rc != 0) ::umount2(mnt.c_str(), MNT_DETACH);
  CHECK(woke);
  CHECK(seen);
  CHECK(umount_rc == 0);
}

TEST_CASE("empty watch paths watch every real filesystem and skip pseudo ones", "[fanotify]") {
  TempDir dir;
  const std::string excluded = dir / "excluded";
  REQUIRE(::mkdir(excluded.c_str(), 0755) == 0);
  auto src = start_source({{}, {excluded}});
  const auto fs = src->watched_filesystems();
  std::string list;
  for (const auto& m : fs) list += m + " ";
  INFO("watched: " << list);
  CHECK(std::find(fs.begin(), fs.end(), "/") != fs.end());
  for (const char* pseudo : {"/proc", "/sys", "/dev", "/dev/pts", "/sys/fs/cgroup"})
    CHECK(std::find(fs.begin(), fs.end(), pseudo) == fs.end());
  Collector c{*src};
  write_file(excluded + "/no", "n");
  write_file(dir / "yes", "y");
  REQUIRE(c.wait_for(FileAction::Write, dir / "yes", 10000));
  CHECK_FALSE(c.any_under(excluded));
}

TEST_CASE("start() reports what failed", "[fanotify]") {
  FanotifySource relative;
  auto r = relative.start({{"relative/path"}, {}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("absolute") != std::string::npos);

  FanotifySource missing;
  auto m = missing.start({{"/nonexistent/vigil/watch"}, {}});
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().find("/nonexistent/vigil/watch") != std::string::npos);

  FanotifySource not_started;
  CHECK_FALSE(not_started.drain([](FileActivity&&) {}).ok());

  TempDir dir;
  FanotifySource twice;
  REQUIRE(twice.start({{dir.path}, {}}).ok());
  CHECK_FALSE(twice.start({{dir.path}, {}}).ok());
}

TEST_CASE("no file descriptor outlives the source", "[fanotify]") {
  const std::size_t before = open_fd_count();
  {
    TempDir dir;
    auto src = start_source({{dir.path}, {}});
    Collector c{*src};
    write_file(dir / "x", "x");
    REQUIRE(c.wait_for(FileAction::Write, dir / "x"));
    // fanotify, epoll, two mountinfo; the process connector's netlink socket, eventfd and
    // /proc/loadavg
    CHECK(open_fd_count() <= before + 7);
  }
  CHECK(open_fd_count() == before);
}

TEST_CASE("mountinfo parsing and the pseudo filesystem choice", "[fanotify]") {
  const std::string text =
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "25 24 0:23 / /dev/shm rw,relatime shared:3 - tmpfs tmpfs rw\n"
      "50 27 0:40 / /run/user/1000 rw shared:9 master:2 - tmpfs tmpfs rw\n"
      "51 27 0:41 / /tmp rw - tmpfs tmpfs rw\n"
      "52 27 8:17 / /media/alice/USB\\040STICK rw - vfat /dev/sdb1 rw\n"
      "53 27 7:3 / /snap/core/1 ro - squashfs /dev/loop3 ro\n"
      "54 27 254:0 /srv/data /mnt/bind rw - ext4 /dev/vda rw\n"
      "55 27 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw\n"
      "garbage line\n";
  auto m = vigil::platform::parse_mountinfo(text);
  REQUIRE(m.size() == 9);
  CHECK(m[0].mount_point == "/");
  CHECK(m[0].major == 254);
  CHECK(m[0].minor == 0);
  CHECK(m[5].mount_point == "/media/alice/USB STICK");
  CHECK(m[5].fstype == "vfat");
  CHECK(m[7].root == "/srv/data");
  CHECK(m[3].fstype == "tmpfs");
  using vigil::platform::is_pseudo_filesystem;
  CHECK_FALSE(is_pseudo_filesystem(m[0]));
  CHECK(is_pseudo_filesystem(m[1]));
  CHECK(is_pseudo_filesystem(m[2]));   // tmpfs under /dev
  CHECK(is_pseudo_filesystem(m[3]));   // tmpfs under /run
  CHECK_FALSE(is_pseudo_filesystem(m[4]));  // tmpfs /tmp may hold user files
  CHECK_FALSE(is_pseudo_filesystem(m[5]));  // removable media: the point of the exercise
  CHECK(is_pseudo_filesystem(m[6]));
  CHECK(is_pseudo_filesystem(m[8]));
}

TEST_CASE("proc stat parsing survives hostile comm", "[fanotify]") {
  auto st = vigil::platform::parse_proc_stat(
      "1234 (evil) (name\n) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2 3\n");
  REQUIRE(st.has_value());
  CHECK(st->comm == "evil) (name\n");
  CHECK(st->ppid == 77);
  CHECK(st->start_time == 987654);
  CHECK_FALSE(vigil::platform::parse_proc_stat("1234 (short) S 1 2").has_value());

  vigil::platform::ProcessInfoCache cache;
  auto me = cache.lookup(::getpid());
  CHECK(me.exe == self_exe());
  CHECK(cache.lookup(::getpid()).exe == me.exe);
  CHECK(cache.size() == 1);
  CHECK(cache.lookup(0).exe.empty());
  CHECK(vigil::platform::user_name(0) == "root");
}

TEST_CASE("a file created, written and deleted at once keeps a sensible order", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string f = dir / "short-lived";
  write_file(f, "gone soon");
  REQUIRE(::unlink(f.c_str()) == 0);
  write_file(dir / "marker", "m");
  REQUIRE(c.wait_for(FileAction::Write, dir / "marker"));
  std::string order;
  for (const auto& a : c.got) {
    if (a.path != f) continue;
    order += a.action == FileAction::Create ? "C" : a.action == FileAction::Write ? "W" : a.action == FileAction::Delete ? "D" : "R";
  }
  INFO("order: " << order);
  CHECK(order == "CWD");
}

TEST_CASE("a start() that failed can be retried", "[fanotify]") {
  TempDir dir;
  const std::string later = dir / "later";
  FanotifySource src(keep_own());
  REQUIRE_FALSE(src.start({{later}, {}}).ok());
  REQUIRE(::mkdir(later.c_str(), 0755) == 0);
  auto st = src.start({{later}, {}});
  INFO(st.error());
  REQUIRE(st.ok());
  Collector c{src};
  write_file(later + "/x", "x");
  CHECK(c.wait_for(FileAction::Write, later + "/x"));
  write_file(dir / "outside-root", "o");
  write_file(later + "/y", "y");
  REQUIRE(c.wait_for(FileAction::Write, later + "/y"));
  CHECK_FALSE(c.seen(FileAction::Write, dir / "outside-root"));
}

TEST_CASE("rm -rf of a directory: deletes inside it are reported or counted", "[fanotify]") {
  TempDir dir;
  const std::string old_tree = dir / "old";  // exists before start: its path is not cached
  REQUIRE(::mkdir(old_tree.c_str(), 0755) == 0);
  for (const char* n : {"/a", "/b", "/c"}) write_file(old_tree + n, n);
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  const std::string new_tree = dir / "new";  // created while watched: its path is cached
  REQUIRE(::mkdir(new_tree.c_str(), 0755) == 0);
  for (const char* n : {"/a", "/b", "/c"}) write_file(new_tree + n, n);
  REQUIRE(c.wait_for(FileAction::Write, new_tree + "/c"));

  const auto unresolved_before = src->counters().unresolved;
  std::filesystem::remove_all(old_tree);
  std::filesystem::remove_all(new_tree);
  REQUIRE(c.wait_for(FileAction::Delete, new_tree));
  CHECK(c.seen(FileAction::Delete, old_tree));
  for (const char* n : {"/a", "/b", "/c"}) CHECK(c.seen(FileAction::Delete, new_tree + n));
  std::size_t old_children = 0;
  for (const char* n : {"/a", "/b", "/c"}) old_children += c.seen(FileAction::Delete, old_tree + n);
  const auto unresolved = src->counters().unresolved - unresolved_before;
  INFO("pre-existing tree: " << old_children << " child deletes reported, " << unresolved
                             << " counted unresolved");
  CHECK(old_children + unresolved >= 3);
  CHECK(old_children == 3);  // named from the directory's own removal record in the same read
}

TEST_CASE("short-lived writers: how many keep their attribution (printed)", "[fanotify]") {
  // Without the process connector the process is read from /proc when the record is drained; a
  // writer that exited before then can only be named from the cache. With it, the exec is
  // recorded as it happens. This measures how often a writer still goes unnamed with a prompt
  // drain (test_proc_connector.cpp asserts it for a late one).
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  constexpr int kRuns = 40;
  std::atomic<bool> done{false};
  int with_exe = 0, seen = 0;
  std::vector<std::string> misses;
  std::thread consumer([&] {
    while (!done || seen < kRuns) {
      pollfd p{src->pollable_fd(), POLLIN, 0};
      if (::poll(&p, 1, 1000) == 0 && done) break;
      auto r = src->drain([&](FileActivity&& a) {
        if (a.action != FileAction::Write) return;
        ++seen;
        const bool ok = a.process.exe == "/usr/bin/dash" || a.process.exe == "/bin/dash" ||
                        a.process.exe.find("sh") != std::string::npos;
        with_exe += ok;
        if (!ok) misses.push_back("pid " + std::to_string(a.process.pid) + " exe \"" + a.process.exe + "\" comm \"" + a.process.comm + "\"");
      });
      if (!r.ok()) break;
    }
  });
  for (int i = 0; i < kRuns; ++i) {
    const std::string cmd = "echo hi > " + dir.path + "/s" + std::to_string(i);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  done = true;
  consumer.join();
  WARN("short-lived writers (sh -c 'echo > f'): " << with_exe << " of " << seen
                                                  << " writes attributed to their exe");
  for (const auto& m : misses) WARN(m);
  CHECK(seen == kRuns);
}

// The agent captures reads only while a removable volume or network share is mounted: the kernel
// mark gains and loses read-only closes while the source runs.
TEST_CASE("reads can be switched on and off while the source runs", "[fanotify]") {
  TempDir dir;
  const std::string f = dir / "source.txt";
  write_file(f, "seventeen bytes!!");
  auto src = start_source({{dir.path}, {}});  // reads off
  Collector c{*src};
  auto read_then_mark = [&](const std::string& marker) {
    { std::ifstream in(f); std::string s; std::getline(in, s); }
    write_file(marker, "m");
    REQUIRE(c.wait_for(FileAction::Write, marker));
  };
  auto reads_of_f = [&] {
    int n = 0;
    for (const auto& a : c.got) n += a.action == FileAction::Read && a.path == f;
    return n;
  };
  read_then_mark(dir / "m1");
  CHECK(reads_of_f() == 0);

  auto open_fds = [] {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const int fds_before = open_fds();
  REQUIRE(src->set_report_reads(true));
  CHECK(open_fds() == fds_before);  // no mount point left open between drains (a stick must unmount)
  read_then_mark(dir / "m2");
  CHECK(reads_of_f() == 1);

  REQUIRE(src->set_report_reads(false));
  REQUIRE(src->set_report_reads(false));  // again: nothing to do
  read_then_mark(dir / "m3");
  CHECK(reads_of_f() == 1);

  REQUIRE(src->set_report_reads(true));
  read_then_mark(dir / "m4");
  CHECK(reads_of_f() == 2);
}

// In a storm the agent drains on its timer and tells the source not to wake it: each record would
// otherwise run an epoll callback in the writer's context. Records keep queueing meanwhile.
TEST_CASE("a source told not to wake keeps its records and is readable at once when told again", "[fanotify]") {
  TempDir dir;
  auto src = start_source({{dir.path}, {}});
  Collector c{*src};
  // Level-triggered, so looking does not consume; the mount table's fd in the same set is told
  // apart by what it is (other tests may mount things meanwhile).
  auto fanotify_readable = [&](int timeout_ms) {
    epoll_event evs[4];
    const int n = ::epoll_wait(src->pollable_fd(), evs, 4, timeout_ms);
    for (int i = 0; i < n; ++i) {
      std::error_code ec;
      auto what = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(evs[i].data.fd), ec);
      if (!ec && what.string() == "anon_inode:[fanotify]") return true;
    }
    return false;
  };
  write_file(dir / "first", "1");
  CHECK(fanotify_readable(2000));
  REQUIRE(c.wait_for(FileAction::Write, dir / "first"));

  REQUIRE(src->set_wake_on_activity(false));
  REQUIRE(src->set_wake_on_activity(false));  // again: nothing to do
  write_file(dir / "second", "2");
  CHECK_FALSE(fanotify_readable(300));

  REQUIRE(src->set_wake_on_activity(true));
  CHECK(fanotify_readable(0));  // queued while quiet: readable without a new record
  REQUIRE(c.wait_for(FileAction::Write, dir / "second"));
  CHECK(c.seen(FileAction::Create, dir / "second"));
}

TEST_CASE("reads are reported only when asked, for regular files, with size and process", "[fanotify]") {
  TempDir dir;
  const std::string f = dir / "source.txt";
  write_file(f, "seventeen bytes!!");
  std::filesystem::create_directories(dir / "sub");
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  {
    CaptureSpec spec{{dir.path}, {}};
    spec.report_reads = true;
    auto src = start_source(spec);
    Collector c{*src};
    { std::ifstream in(f); std::string s; std::getline(in, s); }
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) {}
    {  // a FIFO opened for reading and closed: not a file read
      UniqueFd w(::open((dir / "fifo").c_str(), O_RDWR | O_CLOEXEC));
      UniqueFd r(::open((dir / "fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    }
    REQUIRE(c.wait_for(FileAction::Read, f));
    const FileActivity& r = *c.find(FileAction::Read, f);
    CHECK(r.size == 17);
    CHECK(r.inode != 0);
    CHECK(r.process.pid == static_cast<std::uint32_t>(::getpid()));
    // A real copy: cp reads the source and writes the copy.
    const std::string copy = dir / "sub/copy.txt";
    REQUIRE(std::system(("cp " + f + " " + copy).c_str()) == 0);
    REQUIRE(c.until([&] {
      bool read_by_cp = false;
      for (const auto& a : c.got)
        if (a.action == FileAction::Read && a.path == f && a.process.comm == "cp") read_by_cp = true;
      return read_by_cp && c.seen(FileAction::Write, copy);
    }));
    for (const auto& a : c.got) {
      if (a.action != FileAction::Read) continue;
      CHECK_FALSE(a.is_dir);
      CHECK(a.path != dir.path);
      CHECK(a.path != dir / "sub");
      CHECK(a.path != dir / "fifo");
    }
  }
  {
    auto src = start_source({{dir.path}, {}});  // report_reads false: the default
    Collector c{*src};
    { std::ifstream in(f); std::string s; std::getline(in, s); }
    const std::string marker = dir / "marker";
    write_file(marker, "m");
    REQUIRE(c.wait_for(FileAction::Write, marker));
    for (const auto& a : c.got) CHECK(a.action != FileAction::Read);
  }
}
