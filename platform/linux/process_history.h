// ProcessHistory: what the process connector (proc_connector.h) recorded about processes while
// they ran, so activity drained after a process exited is still attributed to it.
//
// A pid's life is cut into generations: a fork starts one, every exec starts the next, the exit
// (or the next fork reusing the pid) ends the last. Each generation keeps the ProcessInfo read
// from /proc when it began, and the kernel's CLOCK_MONOTONIC time of the fork/exec that began it.
//
// What it promises:
//  - pid reuse never mis-attributes: a record read from the kernel at time T (it was queued before
//    T) is matched to the pid's newest generation that began at or before T. A generation that
//    began after T cannot have produced it: if the pid has only such generations, find() says
//    Before instead of naming the newcomer;
//  - ended generations are kept for `grace_ns` after they ended (events drained later still find
//    them), and memory is bounded: at most `capacity` generations in all and `per_pid` per pid.
//    When full, the generation that ended longest ago goes first (even within its grace), then,
//    only if every one is still running, the oldest running ones;
//  - time is the kernel's (event timestamps), never read here: the logic is deterministic and
//    testable without a kernel.
// A uid change (setuid) updates the running generation in place: records of that process queued
// before it are then attributed to the new uid (the login uid, which names the user, stays).
// Thread-safe: the connector's thread writes while the drain loop reads.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "agent/capture.h"

namespace vigil::platform {

struct ProcessGeneration {
  std::int64_t since_ns = 0;      // CLOCK_MONOTONIC of the fork/exec that began it; for a process
                                  // learned while running: when the pid's previous generation
                                  // ended, or 0
  std::int64_t ended_ns = 0;      // valid when ended
  bool ended = false;             // replaced by an exec, exited, or the pid was reused
  bool exited = false;            // ended by its exit
  bool by_exec = false;           // began with an exec: the same process ran another program before
  std::uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22 (constant across exec); 0: unknown
  bool ids_known = true;          // info.uid and info.login_uid were read or inherited
  agent::ProcessInfo info;        // `user` is left to the reader (name lookups may be slow)
  std::uint64_t serial = 0;       // identity inside the history
};

class ProcessHistory {
 public:
  struct Limits {
    std::size_t capacity = 16384;              // generations in all
    std::int64_t grace_ns = 30'000'000'000;    // how long an ended generation is kept at least
    std::size_t per_pid = 8;                   // generations per pid (exec chains, pid reuse)
  };
  struct Stats {
    std::size_t generations = 0;
    std::size_t pids = 0;
    std::uint64_t expired = 0;            // ended generations dropped after their grace
    std::uint64_t evicted_in_grace = 0;   // ended generations dropped early: capacity
    std::uint64_t evicted_running = 0;    // running generations dropped: capacity
  };
  enum class Match {
    Unknown,  // nothing recorded for this pid
    Found,    // `gen` is the generation that was running the pid at the time asked about
    Before,   // every generation recorded for the pid began later; `gen` is the earliest of them
  };
  struct Answer {
    Match match = Match::Unknown;
    bool running = false;  // Found: `gen` is the pid's newest generation and has not ended
    ProcessGeneration gen;
  };

  ProcessHistory();
  explicit ProcessHistory(Limits limits);

  // A fork (by_exec false) or exec (true) at at_ns: ends the pid's running generation, if any.
  void begin(pid_t pid, std::int64_t at_ns, std::uint64_t start_ticks, bool by_exec,
             agent::ProcessInfo info, bool ids_known = true);
  // A process found running that began before we listened (a forking parent): recorded as the
  // pid's running generation unless it has one already. at_ns: when it was read.
  void learn(pid_t pid, std::int64_t at_ns, std::uint64_t start_ticks, agent::ProcessInfo info);
  void set_uid(pid_t pid, std::uint32_t uid);
  void exited(pid_t pid, std::int64_t at_ns);

  // The pid's running generation, if any.
  std::optional<ProcessGeneration> running(pid_t pid) const;
  // Which generation ran the pid for a record queued before queued_before_ns.
  Answer find(pid_t pid, std::int64_t queued_before_ns) const;
  Stats stats() const;

 private:
  using Generations = std::vector<ProcessGeneration>;  // oldest first; only the last may run
  struct EndedRef {
    pid_t pid = 0;
    std::uint64_t serial = 0;
    std::int64_t ended_ns = 0;
  };

  void advance(std::int64_t at_ns);
  void end_running(pid_t pid, Generations& gens, std::int64_t at_ns, bool exited);
  void make_room();
  void expire();
  bool erase(const EndedRef& ref);
  void evict_oldest_running();
  void compact_ended();
  void push(pid_t pid, ProcessGeneration gen);

  Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<pid_t, Generations> by_pid_;
  std::deque<EndedRef> ended_;  // in the order they ended; may hold refs already erased
  std::size_t count_ = 0;
  std::uint64_t next_serial_ = 1;
  std::int64_t now_ns_ = 0;     // newest event time seen
  Stats stats_;
};

}  // namespace vigil::platform
