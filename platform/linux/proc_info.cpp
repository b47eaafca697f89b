// ProcessInfo from /proc/<pid>. Everything for one process is read through one /proc/<pid>
// directory fd: if the process dies and its pid is reused meanwhile, reads through the old fd fail
// instead of silently describing the newcomer.
#include "platform/linux/proc_info.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <vector>

#include "platform/linux/process_history.h"
#include "platform/linux/unique_fd.h"

namespace vigil::platform {
namespace {

constexpr std::uint32_t kUnsetLoginUid = 0xffffffffu;
constexpr std::size_t kMaxNames = 512;
// How long a /proc confirmation of a process the connector tracks stands (see lookup_with_history).
constexpr std::int64_t kRecheckNs = 250'000'000;

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Whole content of a small /proc file; nothing if it cannot be opened or read.
std::optional<std::string> read_small_file(int dirfd, const char* name) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Symlink target as raw bytes; empty if it cannot be read (kernel thread, zombie, gone).
std::string read_link(int dirfd, const char* name) {
  std::vector<char> buf(PATH_MAX);
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
    if (n < 0) return {};
    if (static_cast<std::size_t>(n) < buf.size()) return std::string(buf.data(), static_cast<std::size_t>(n));
    buf.resize(buf.size() * 2);  // possibly truncated: retry larger
  }
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr != text.data();
}

// Real uid: the first number on the "Uid:" line of /proc/<pid>/status.
std::optional<std::uint32_t> parse_status_uid(const std::string& status) {
  std::size_t at = status.find("\nUid:");  // never the first line ("Name:" is)
  if (at == std::string::npos) return std::nullopt;
  std::uint32_t uid = 0;
  if (!parse_number(std::string_view(status).substr(at + 5), uid)) return std::nullopt;
  return uid;
}

std::uint32_t read_login_uid(int dirfd) {
  auto text = read_small_file(dirfd, "loginuid");
  std::uint32_t v = kUnsetLoginUid;
  if (!text || !parse_number(*text, v)) return kUnsetLoginUid;
  return v;
}

std::string pid_dir(pid_t pid) { return "/proc/" + std::to_string(pid); }

UniqueFd open_pid_dir(pid_t pid) {
  return UniqueFd(::open(pid_dir(pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

std::string parent_exe(std::uint32_t ppid) {
  if (ppid == 0) return {};
  UniqueFd dir = open_pid_dir(static_cast<pid_t>(ppid));
  return dir ? read_link(dir.get(), "exe") : std::string();
}

// Everything except `user`, read through an open /proc/<pid> directory.
agent::ProcessInfo read_through(int dirfd, pid_t pid, const ProcStat& stat) {
  agent::ProcessInfo p;
  p.pid = static_cast<std::uint32_t>(pid);
  p.ppid = stat.ppid;
  p.comm = stat.comm;
  p.exe = read_link(dirfd, "exe");
  if (auto status = read_small_file(dirfd, "status")) {
    if (auto uid = parse_status_uid(*status)) p.uid = *uid;
  }
  p.login_uid = read_login_uid(dirfd);
  p.parent_exe = parent_exe(stat.ppid);
  return p;
}

std::uint32_t attributed_uid(const agent::ProcessInfo& p) {
  return p.login_uid != kUnsetLoginUid ? p.login_uid : p.uid;
}

std::optional<ProcStat> read_stat(int dirfd) {
  auto text = read_small_file(dirfd, "stat");
  return text ? parse_proc_stat(*text) : std::nullopt;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(const std::string& text) {
  // "pid (comm) state ppid ... starttime ...": comm may contain anything, so it ends at the LAST ')'.
  std::size_t open = text.find('(');
  std::size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.comm = text.substr(open + 1, close - open - 1);
  // Fields after ") ": state(3) ppid(4) ... starttime(22), i.e. index 0, 1 and 19 here.
  std::vector<std::string_view> fields;
  std::string_view rest = std::string_view(text).substr(close + 1);
  while (!rest.empty() && fields.size() < 20) {
    std::size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    std::size_t e = rest.find(' ');
    fields.push_back(rest.substr(0, e));
    rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
  }
  if (fields.size() < 20) return std::nullopt;
  if (!parse_number(fields[1], st.ppid) || !parse_number(fields[19], st.start_time)) return std::nullopt;
  return st;
}

std::string user_name(std::uint32_t uid) {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  for (;;) {
    passwd pw{};
    passwd* found = nullptr;
    int rc = getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc == 0 && found != nullptr && found->pw_name != nullptr) return found->pw_name;
    return std::to_string(uid);
  }
}

agent::ProcessInfo read_process_info(pid_t pid) {
  agent::ProcessInfo p;
  p.pid = static_cast<std::uint32_t>(pid);
  if (pid <= 0) return p;
  UniqueFd dir = open_pid_dir(pid);
  if (!dir) return p;
  auto stat = read_stat(dir.get());
  if (!stat) return p;
  p = read_through(dir.get(), pid, *stat);
  p.user = user_name(attributed_uid(p));
  return p;
}

std::optional<ProcSnapshot> snapshot_process(pid_t pid, SnapshotDepth depth) {
  if (pid <= 0) return std::nullopt;
  UniqueFd dir = open_pid_dir(pid);
  if (!dir) return std::nullopt;
  ProcSnapshot s;
  s.info.pid = static_cast<std::uint32_t>(pid);
  s.info.exe = read_link(dir.get(), "exe");
  auto stat = read_stat(dir.get());
  if (!stat) {
    if (s.info.exe.empty()) return std::nullopt;
    return s;  // reaped between the two reads; the program is what matters most
  }
  s.complete = true;
  s.start_ticks = stat->start_time;
  s.info.ppid = stat->ppid;
  s.info.comm = std::move(stat->comm);
  if (depth == SnapshotDepth::Full) {
    if (auto status = read_small_file(dir.get(), "status")) {
      if (auto uid = parse_status_uid(*status)) s.info.uid = *uid;
    }
  }
  s.info.login_uid = read_login_uid(dir.get());
  return s;
}

std::optional<std::uint32_t> login_uid_of(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  UniqueFd fd(::open((pid_dir(pid) + "/loginuid").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[32];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  std::uint32_t v = kUnsetLoginUid;
  if (n <= 0 || !parse_number(std::string_view(buf, static_cast<std::size_t>(n)), v)) return kUnsetLoginUid;
  return v;
}

std::optional<std::uint32_t> real_uid_of(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  UniqueFd dir = open_pid_dir(pid);
  auto status = dir ? read_small_file(dir.get(), "status") : std::nullopt;
  return status ? parse_status_uid(*status) : std::nullopt;
}

std::string read_exe(pid_t pid) {
  if (pid <= 0) return {};
  UniqueFd dir = open_pid_dir(pid);
  return dir ? read_link(dir.get(), "exe") : std::string();
}

ProcessInfoCache::ProcessInfoCache(std::size_t capacity, std::int64_t max_age_ns)
    : capacity_(capacity == 0 ? 1 : capacity), max_age_ns_(max_age_ns) {}

void ProcessInfoCache::use_history(std::shared_ptr<const ProcessHistory> history) {
  history_ = std::move(history);
  memo_.clear();
}

agent::ProcessInfo ProcessInfoCache::lookup(pid_t pid) {
  if (pid <= 0) {
    agent::ProcessInfo gone;
    gone.pid = static_cast<std::uint32_t>(pid);
    return gone;
  }
  if (!history_) return lookup_proc(pid);
  if (auto m = memo_.find(pid); m != memo_.end() && m->second.batch == batch_) return m->second.info;
  agent::ProcessInfo info = lookup_with_history(pid);
  if (memo_.size() >= capacity_) memo_.clear();
  memo_[pid] = Memo{batch_, info};
  return info;
}

agent::ProcessInfo ProcessInfoCache::lookup_with_history(pid_t pid) {
  ProcessHistory::Answer a = history_->find(pid, queued_before_ns_);
  const std::int64_t now = monotonic_ns();
  switch (a.match) {
    case ProcessHistory::Match::Unknown:
      return lookup_proc(pid);
    case ProcessHistory::Match::Before: {
      // Whoever had the pid then is not recorded, and whoever has it now began later: naming the
      // newcomer would be wrong. If the newcomer began with an exec it was the same process
      // running another program before: same parent and uids, program unknown.
      agent::ProcessInfo p;
      p.pid = static_cast<std::uint32_t>(pid);
      if (a.gen.by_exec && a.gen.ids_known) {
        p.ppid = a.gen.info.ppid;
        p.parent_exe = std::move(a.gen.info.parent_exe);
        p.uid = a.gen.info.uid;
        p.login_uid = a.gen.info.login_uid;
        p.user = cached_user_name(attributed_uid(p), now);
      }
      return p;
    }
    case ProcessHistory::Match::Found:
      break;
  }
  if (a.running) {
    // Still that generation, as far as the connector has told: /proc has the freshest view (the
    // login uid can be set without an event). Except for the program, which only an exec (a new
    // generation) changes, and which /proc no longer shows once the process is exiting.
    // The connector also reports uid changes, so a /proc view of this generation younger than
    // kRecheckNs is taken as is: re-reading /proc/<pid>/stat for every batch of a write storm
    // was a quarter of the agent's CPU.
    std::optional<agent::ProcessInfo> live;
    if (auto it = by_pid_.find(pid); it != by_pid_.end() && a.gen.start_ticks != 0 &&
        it->second.start_time == a.gen.start_ticks && now - it->second.confirmed_ns < kRecheckNs &&
        (!a.gen.ids_known || it->second.info.uid == a.gen.info.uid))
      live = it->second.info;
    else
      live = read_live(pid, a.gen.start_ticks, now);
    if (live) {
      if (live->exe.empty()) live->exe = std::move(a.gen.info.exe);
      if (live->parent_exe.empty() && live->ppid == a.gen.info.ppid)
        live->parent_exe = std::move(a.gen.info.parent_exe);
      return std::move(*live);
    }
  }
  agent::ProcessInfo p = std::move(a.gen.info);
  if (a.gen.ids_known) p.user = cached_user_name(attributed_uid(p), now);
  return p;
}

agent::ProcessInfo ProcessInfoCache::lookup_proc(pid_t pid) {
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end() && it->second.batch == batch_) return it->second.info;
  const std::int64_t now = monotonic_ns();
  if (auto live = read_live(pid, 0, now)) return std::move(*live);
  // Exited (and maybe reaped) before we looked: the last answer for this pid, if recent, is
  // far more likely right than nothing.
  it = by_pid_.find(pid);
  if (it != by_pid_.end() && now - it->second.loaded_ns < max_age_ns_) return it->second.info;
  agent::ProcessInfo gone;
  gone.pid = static_cast<std::uint32_t>(pid);
  return gone;
}

std::optional<agent::ProcessInfo> ProcessInfoCache::read_live(pid_t pid, std::uint64_t expect_ticks,
                                                              std::int64_t now) {
  auto it = by_pid_.find(pid);
  UniqueFd dir = open_pid_dir(pid);
  std::optional<ProcStat> stat = dir ? read_stat(dir.get()) : std::nullopt;
  if (!stat || (expect_ticks != 0 && stat->start_time != expect_ticks)) return std::nullopt;
  if (it != by_pid_.end() && it->second.start_time == stat->start_time &&
      it->second.info.comm == stat->comm && now - it->second.loaded_ns < max_age_ns_) {
    it->second.batch = batch_;
    it->second.confirmed_ns = now;
    return it->second.info;
  }
  agent::ProcessInfo info = read_through(dir.get(), pid, *stat);
  info.user = cached_user_name(attributed_uid(info), now);
  if (it == by_pid_.end()) make_room(now);
  by_pid_[pid] = Entry{stat->start_time, now, batch_, now, info};
  return info;
}

std::string ProcessInfoCache::cached_user_name(std::uint32_t uid, std::int64_t now) {
  auto it = names_.find(uid);
  // Names change rarely; a minute of staleness after a usermod is acceptable.
  if (it != names_.end() && now - it->second.loaded_ns < 60'000'000'000) return it->second.name;
  if (names_.size() >= kMaxNames) names_.clear();
  std::string name = user_name(uid);
  names_[uid] = CachedName{name, now};
  return name;
}

void ProcessInfoCache::make_room(std::int64_t now) {
  if (by_pid_.size() < capacity_) return;
  std::erase_if(by_pid_, [&](const auto& kv) { return now - kv.second.loaded_ns >= max_age_ns_; });
  // Still full of fresh entries (a fork storm): start over rather than track recency per entry.
  if (by_pid_.size() >= capacity_) by_pid_.clear();
}

}  // namespace vigil::platform
