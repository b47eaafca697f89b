// Who did it: agent::ProcessInfo for a pid, read from /proc/<pid>.
//
// ProcessInfoCache promises:
//  - the login user, not just the uid: login_uid comes from /proc/<pid>/loginuid (the audit login
//    uid survives sudo/su), and `user` names login_uid, or uid when login_uid is unset
//    (4294967295), or is the number as text when there is no passwd entry;
//  - a process that is gone is not an error: exe/comm/... are then empty, unless the same pid
//    was seen moments earlier, in which case that earlier answer is returned;
//  - bounded memory and bounded staleness: entries are keyed by (pid, start time) so a recycled
//    pid is never confused with its predecessor, re-validated against comm (which execve changes)
//    on every lookup, and re-read after `max_age_ns` anyway (login uid may be set after the first
//    look; an execve keeping the same comm is only noticed then);
//  - within one batch (new_batch(): the records of one read(), all queued before it) a pid is
//    looked up in /proc at most once: what /proc says does not change meaningfully within it;
//  - with a ProcessHistory (use_history(), fed by the process connector as processes fork, exec
//    and exit), a process that is gone by the time its records are drained is still described as
//    it was, and a pid reused since is not mistaken for its predecessor: the generation running
//    the pid when the batch was read is used (see ProcessHistory::find). A process still running
//    as that generation is read from /proc as before (login uid and comm can change without a
//    process event). Pids the history knows nothing of (processes older than the listener) are
//    looked up as without it.
// Not thread-safe: one cache per drain loop (the history it reads is).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "agent/capture.h"

namespace vigil::platform {

// Fields of /proc/<pid>/stat the cache needs. comm may hold any bytes, even ')' or '\n'.
struct ProcStat {
  std::uint32_t ppid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot
  std::string comm;
};

// Parses the text of /proc/<pid>/stat; nothing if it is malformed.
std::optional<ProcStat> parse_proc_stat(const std::string& text);

// Reads everything afresh, no cache. pid 0 or a vanished process gives a mostly empty answer.
agent::ProcessInfo read_process_info(pid_t pid);

// /proc/<pid> read the moment the process connector reports an exec, or a fork by a process it
// has no record of. Exe first (it is the first thing to go when a process exits; a zombie keeps
// stat, status and loginuid), then stat (comm, ppid, start time), the real uid from status (Full
// only: the most expensive file, and an exec does not change the real uid) and the login uid.
// parent_exe and user are left empty. Nothing if nothing could be read; `complete` false when only
// the exe was (the process was reaped right after).
struct ProcSnapshot {
  agent::ProcessInfo info;
  std::uint64_t start_ticks = 0;
  bool complete = false;
};
enum class SnapshotDepth { Full, WithoutUid };
std::optional<ProcSnapshot> snapshot_process(pid_t pid, SnapshotDepth depth);

// /proc/<pid>/loginuid, and the real uid from /proc/<pid>/status; nothing if the process is gone.
std::optional<std::uint32_t> login_uid_of(pid_t pid);
std::optional<std::uint32_t> real_uid_of(pid_t pid);

// Target of /proc/<pid>/exe; empty if unreadable.
std::string read_exe(pid_t pid);

// The passwd name of uid, or the number as text when there is none.
std::string user_name(std::uint32_t uid);

class ProcessHistory;

class ProcessInfoCache {
 public:
  explicit ProcessInfoCache(std::size_t capacity = 2048,
                            std::int64_t max_age_ns = 2'000'000'000);
  // Consult `history` first from now on; nullptr: /proc only.
  void use_history(std::shared_ptr<const ProcessHistory> history);
  agent::ProcessInfo lookup(pid_t pid);
  // The records looked up next were all queued before queued_before_ns (CLOCK_MONOTONIC, e.g.
  // taken right after the read() that returned them).
  void new_batch(std::int64_t queued_before_ns = std::numeric_limits<std::int64_t>::max()) {
    ++batch_;
    queued_before_ns_ = queued_before_ns;
  }
  std::size_t size() const { return by_pid_.size(); }

 private:
  struct Entry {
    std::uint64_t start_time = 0;
    std::int64_t loaded_ns = 0;  // CLOCK_MONOTONIC
    std::uint64_t batch = 0;     // last batch in which /proc confirmed it
    std::int64_t confirmed_ns = 0;  // CLOCK_MONOTONIC of that confirmation
    agent::ProcessInfo info;
  };
  struct CachedName {
    std::string name;
    std::int64_t loaded_ns = 0;
  };
  struct Memo {
    std::uint64_t batch = 0;
    agent::ProcessInfo info;
  };
  agent::ProcessInfo lookup_proc(pid_t pid);
  agent::ProcessInfo lookup_with_history(pid_t pid);
  // /proc/<pid> as it is now, through the cache; nothing if it is gone or (expect_ticks != 0) is
  // another process than the one that started at expect_ticks.
  std::optional<agent::ProcessInfo> read_live(pid_t pid, std::uint64_t expect_ticks, std::int64_t now);
  std::string cached_user_name(std::uint32_t uid, std::int64_t now);
  void make_room(std::int64_t now);

  std::size_t capacity_;
  std::int64_t max_age_ns_;
  std::uint64_t batch_ = 1;
  std::int64_t queued_before_ns_ = std::numeric_limits<std::int64_t>::max();
  std::shared_ptr<const ProcessHistory> history_;
  std::unordered_map<pid_t, Entry> by_pid_;
  std::unordered_map<pid_t, Memo> memo_;  // with a history: this batch's answers
  std::unordered_map<std::uint32_t, CachedName> names_;  // getpwuid_r may go to NSS/LDAP: cache
};

}  // namespace vigil::platform
