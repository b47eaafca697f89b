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
//    looked up in /proc at most once: what /proc says does not change meaningfully within it.
// Not thread-safe: one cache per drain loop.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
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

// The passwd name of uid, or the number as text when there is none.
std::string user_name(std::uint32_t uid);

class ProcessInfoCache {
 public:
  explicit ProcessInfoCache(std::size_t capacity = 2048,
                            std::int64_t max_age_ns = 2'000'000'000);
  agent::ProcessInfo lookup(pid_t pid);
  void new_batch() { ++batch_; }
  std::size_t size() const { return by_pid_.size(); }

 private:
  struct Entry {
    std::uint64_t start_time = 0;
    std::int64_t loaded_ns = 0;  // CLOCK_MONOTONIC
    std::uint64_t batch = 0;     // last batch in which /proc confirmed it
    agent::ProcessInfo info;
  };
  struct CachedName {
    std::string name;
    std::int64_t loaded_ns = 0;
  };
  agent::ProcessInfo load(pid_t pid, const ProcStat& stat);
  std::string cached_user_name(std::uint32_t uid, std::int64_t now);
  void make_room(std::int64_t now);

  std::size_t capacity_;
  std::int64_t max_age_ns_;
  std::uint64_t batch_ = 1;
  std::unordered_map<pid_t, Entry> by_pid_;
  std::unordered_map<std::uint32_t, CachedName> names_;  // getpwuid_r may go to NSS/LDAP: cache
};

}  // namespace vigil::platform
