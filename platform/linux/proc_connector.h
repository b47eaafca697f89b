// ProcConnector: the kernel's process events (netlink connector, NETLINK_CONNECTOR / CN_IDX_PROC,
// PROC_CN_MCAST_LISTEN), turned into a ProcessHistory while the processes still exist.
//
// Why a thread: a short-lived process (`sh -c 'echo x > f'`, `cp a b`) lives a millisecond or
// two. Its exec event is only worth something if /proc/<pid> is read right then, not when the
// agent's loop next gets round to draining (it may be flushing to disk or the network). So a
// thread of our own (SCHED_FIFO when allowed, see Options) waits on the socket and, per event:
//  - exec: reads /proc/<pid> at once (exe first; the execs of a batch before anything else) and
//    starts a new generation of that pid;
//  - fork of a process (not a thread): the child inherits its parent's recorded info, with the
//    parent's current login uid (the parent is read from /proc and recorded first if it predates
//    the listener);
//  - uid change: updates the running generation's real uid;
//  - exit of a process: ends its generation (kept for the history's grace period).
// sync() lets the drain loop wait (briefly) until every event queued so far has been applied, so
// everything that happened before a fanotify read is recorded before that read's records are
// attributed: an exec that preceded a record is queued on our socket before the record can be
// read (the kernel delivers process events synchronously, from the process doing it).
//
// Needs the initial pid and user namespaces (the kernel ignores listen requests from elsewhere)
// and, on older kernels, CAP_NET_ADMIN (6.18 lets any user listen); open() fails otherwise,
// saying why. Lost events (socket buffer overrun, ENOBUFS) are counted. On kernels >= 6.6 only
// fork, exec, uid and exit events are asked for; older kernels send everything and the rest is
// skipped.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "platform/linux/process_history.h"
#include "shared/result.h"

namespace vigil::platform {

// One process event as the connector reports it. Pids are the kernel's (initial namespace).
struct ProcEvent {
  enum class Kind { Ack, Fork, Exec, Uid, Exit, Other };
  Kind kind = Kind::Other;
  std::int64_t time_ns = 0;     // CLOCK_MONOTONIC when it happened
  pid_t pid = 0;                // the thread it is about (Fork: the new one)
  pid_t tgid = 0;               // its process
  pid_t parent_pid = 0;         // Fork: the thread that forked
  pid_t parent_tgid = 0;        // Fork: its process
  std::uint32_t uid = 0;        // Uid: the new real uid
  std::uint32_t ack = 0;        // Ack: the request's cn_msg.ack + 1 (the kernel renumbers seq)
  std::int32_t err = 0;         // Ack: 0, or the errno of the refused request
};

// Calls fn for each process event in one datagram read from a NETLINK_CONNECTOR socket.
// Anything malformed, truncated or not from the process connector is skipped.
void parse_connector_datagram(const void* data, std::size_t len,
                              const std::function<void(const ProcEvent&)>& fn);

class ProcConnector {
 public:
  struct Counters {
    std::uint64_t events = 0;         // process events handled
    std::uint64_t forks = 0;          // processes (not threads) forked
    std::uint64_t execs = 0;
    std::uint64_t exec_unread = 0;    // exec whose program could not be read: exited too soon
    std::uint64_t exits = 0;          // processes (not threads) exited
    std::uint64_t uid_changes = 0;
    std::uint64_t overruns = 0;       // the socket buffer overflowed: events lost (ENOBUFS)
  };
  struct Options {
    // The thread races each exec'd program to its exit. On a busy machine an ordinary thread can
    // wait milliseconds to run, longer than `sh -c 'echo x > f'` lives; SCHED_FIFO (priority 1,
    // the lowest real-time one) runs it at once. Its work per event is a few /proc reads, and the
    // kernel's real-time throttling bounds it under a fork storm. Not permitted (no
    // CAP_SYS_NICE, cgroup without real-time budget) or false: nice -10, else as it is.
    bool realtime = true;
    // After each process event, poll without sleeping for this long: waking a CPU that went idle
    // (deep C-state; a halted virtual CPU) can take longer than a short process lives, and
    // process activity comes in bursts. Bounded to 2% of one CPU over time (250 ms at once), only
    // with 2+ CPUs, and only while no task waits for a CPU (runnable_tasks.h): on a busy machine
    // no CPU is halted and the spin would only slow the work down. 0: never.
    std::int64_t stay_awake_ns = 2'000'000;
  };

  // Subscribes and starts the thread. Fails (with the reason) when the kernel or our privileges
  // do not allow listening.
  static Result<std::unique_ptr<ProcConnector>> open(std::shared_ptr<ProcessHistory> history);
  static Result<std::unique_ptr<ProcConnector>> open(std::shared_ptr<ProcessHistory> history,
                                                     Options options);
  ~ProcConnector();  // stops the thread, unsubscribes, closes the socket
  ProcConnector(const ProcConnector&) = delete;
  ProcConnector& operator=(const ProcConnector&) = delete;

  // Handles the events queued right now (up to a bound), on the caller's thread.
  void pump();
  // Waits until every event queued before queued_before_ns (CLOCK_MONOTONIC) has been applied,
  // until deadline_ns at the latest; false if that did not happen in time.
  bool sync(std::int64_t queued_before_ns, std::int64_t deadline_ns);
  Counters counters() const;
  // How the thread is scheduled: "SCHED_FIFO 1", "nice -10" or "normal".
  std::string scheduling() const;

 private:
  struct State;
  explicit ProcConnector(std::shared_ptr<ProcessHistory> history);
  std::unique_ptr<State> s_;
};

}  // namespace vigil::platform
