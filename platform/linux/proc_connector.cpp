// Process events from the netlink connector. Wire format of one datagram: nlmsghdr, then a cn_msg
// (connector id, seq, ack, len), then a struct proc_event (what, cpu, timestamp_ns, event_data).
// Fields are copied out with memcpy: the proc_event starts at offset 36, its 64-bit timestamp is
// not aligned.
#include "platform/linux/proc_connector.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "platform/linux/proc_info.h"
#include "platform/linux/runnable_tasks.h"
#include "platform/linux/unique_fd.h"
#include "shared/log.h"

namespace vigil::platform {
namespace {

constexpr std::string_view kComponent = "capture";

// struct cn_msg
constexpr std::size_t kCnIdx = offsetof(cn_msg, id) + offsetof(cb_id, idx);
constexpr std::size_t kCnVal = offsetof(cn_msg, id) + offsetof(cb_id, val);
constexpr std::size_t kCnSeq = offsetof(cn_msg, seq);
constexpr std::size_t kCnAck = offsetof(cn_msg, ack);
constexpr std::size_t kCnLen = offsetof(cn_msg, len);
constexpr std::size_t kCnHeader = sizeof(cn_msg);
static_assert(kCnHeader == 20);

// struct proc_event (linux/cn_proc.h); the union starts at 16 on every ABI (aligned timestamp).
constexpr std::size_t kEvWhat = 0;
constexpr std::size_t kEvTimestamp = 8;
constexpr std::size_t kEvData = 16;
static_assert(offsetof(proc_event, timestamp_ns) == kEvTimestamp);
static_assert(offsetof(proc_event, event_data) == kEvData);
// Offsets inside event_data.
constexpr std::size_t kAckErr = 0;
constexpr std::size_t kForkParentPid = 0, kForkParentTgid = 4, kForkChildPid = 8, kForkChildTgid = 12;
constexpr std::size_t kProcPid = 0, kProcTgid = 4;  // exec, id, exit
constexpr std::size_t kIdRuid = 8;
static_assert(sizeof(proc_event{}.event_data.fork) == 16);
static_assert(sizeof(proc_event{}.event_data.exec) == 8);
static_assert(sizeof(proc_event{}.event_data.id) == 16);

// enum proc_cn_event; spelled out because older headers nest it inside struct proc_event.
constexpr std::uint32_t kEventNone = 0x00000000;
constexpr std::uint32_t kEventFork = 0x00000001;
constexpr std::uint32_t kEventExec = 0x00000002;
constexpr std::uint32_t kEventUid = 0x00000004;
constexpr std::uint32_t kEventExit = 0x80000000;
constexpr std::uint32_t kWanted = kEventFork | kEventExec | kEventUid | kEventExit;

constexpr std::uint32_t kMcastListen = 1;  // PROC_CN_MCAST_LISTEN
constexpr std::uint32_t kMcastIgnore = 2;  // PROC_CN_MCAST_IGNORE

// struct proc_input (Linux 6.6): a listen request carrying an event-type filter. Older kernels
// ignore a request of this size, so a plain listen is always sent first.
struct ProcInput {
  std::uint32_t mcast_op;
  std::uint32_t event_type;
};

// Events are small: 36 bytes of headers + 40 of event. A burst of forks must not overflow the
// default (~200 KiB) before the thread gets to run.
constexpr int kReceiveBufferBytes = 8 << 20;
constexpr int kMaxDatagramsPerPump = 256;
constexpr int kAckWaitMs = 500;
// Staying awake after process activity (see State::stay_awake): a share of one CPU, in permille,
// and how much may be spent at once.
constexpr std::int64_t kAwakeSharePermille = 20;
constexpr std::int64_t kAwakeBurstNs = 250'000'000;
// While awake, how often to look again whether anyone waits for a CPU.
constexpr std::int64_t kSpareCpuRecheckNs = 100'000;

std::string errno_text(int e) {
  const char* d = strerrordesc_np(e);
  return d != nullptr ? d : "errno " + std::to_string(e);
}

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Tags for our requests. The kernel answers a request with an event whose cn_msg.ack is the
// request's ack + 1 (its seq is renumbered), and sends it to every listener: ours must be
// recognisable. Multiples of 4 (tag + 2 is the filtered request), so tag + 1 is never the 0 that
// ordinary events carry.
std::uint32_t next_tag() {
  static std::atomic<std::uint32_t> counter{0};
  return ((static_cast<std::uint32_t>(::getpid()) << 12) ^ (counter.fetch_add(4) + 0x5a5a0000u)) & ~3u;
}

}  // namespace

void parse_connector_datagram(const void* data, std::size_t len,
                              const std::function<void(const ProcEvent&)>& fn) {
  const char* base = static_cast<const char*>(data);
  std::size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    const auto nlh = load<nlmsghdr>(base + off);
    if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len - off) return;
    const char* payload = base + off + NLMSG_HDRLEN;
    const std::size_t payload_len = nlh.nlmsg_len - NLMSG_HDRLEN;
    off += std::min<std::size_t>(NLMSG_ALIGN(nlh.nlmsg_len), len - off);
    // The connector sends NLMSG_DONE; error, no-op and overrun messages carry no event.
    if (nlh.nlmsg_type == NLMSG_ERROR || nlh.nlmsg_type == NLMSG_NOOP || nlh.nlmsg_type == NLMSG_OVERRUN)
      continue;
    if (payload_len < kCnHeader) continue;
    if (load<std::uint32_t>(payload + kCnIdx) != CN_IDX_PROC || load<std::uint32_t>(payload + kCnVal) != CN_VAL_PROC)
      continue;
    const std::size_t cn_len = load<std::uint16_t>(payload + kCnLen);
    if (cn_len > payload_len - kCnHeader || cn_len < kEvData) continue;
    const char* ev = payload + kCnHeader;
    const char* d = ev + kEvData;
    const std::size_t room = cn_len - kEvData;
    ProcEvent e;
    e.time_ns = static_cast<std::int64_t>(load<std::uint64_t>(ev + kEvTimestamp));
    switch (load<std::uint32_t>(ev + kEvWhat)) {
      case kEventNone:
        if (room < 4) continue;
        e.kind = ProcEvent::Kind::Ack;
        e.ack = load<std::uint32_t>(payload + kCnAck);
        e.err = load<std::int32_t>(d + kAckErr);
        break;
      case kEventFork:
        if (room < 16) continue;
        e.kind = ProcEvent::Kind::Fork;
        e.parent_pid = load<pid_t>(d + kForkParentPid);
        e.parent_tgid = load<pid_t>(d + kForkParentTgid);
        e.pid = load<pid_t>(d + kForkChildPid);
        e.tgid = load<pid_t>(d + kForkChildTgid);
        break;
      case kEventExec:
      case kEventExit:
        if (room < 8) continue;
        e.kind = load<std::uint32_t>(ev + kEvWhat) == kEventExec ? ProcEvent::Kind::Exec : ProcEvent::Kind::Exit;
        e.pid = load<pid_t>(d + kProcPid);
        e.tgid = load<pid_t>(d + kProcTgid);
        break;
      case kEventUid:
        if (room < 12) continue;
        e.kind = ProcEvent::Kind::Uid;
        e.pid = load<pid_t>(d + kProcPid);
        e.tgid = load<pid_t>(d + kProcTgid);
        e.uid = load<std::uint32_t>(d + kIdRuid);
        break;
      default:
        if (room < 8) continue;
        e.kind = ProcEvent::Kind::Other;
        e.pid = load<pid_t>(d + kProcPid);
        e.tgid = load<pid_t>(d + kProcTgid);
        break;
    }
    fn(e);
  }
}

// ---------------------------------------------------------------------------------------------

struct ProcConnector::State {
  std::shared_ptr<ProcessHistory> history;
  UniqueFd sock;
  UniqueFd stop;  // eventfd: tells the thread to finish
  std::uint32_t portid = 0;
  std::thread thread;
  std::mutex read_mu;  // one reader at a time, so events are handled in the order they came
  // sync(): the thread is between receiving events and having applied them; and the time before
  // which everything queued has been applied (a receive found the socket empty at that time).
  std::atomic<bool> busy{false};
  std::atomic<std::int64_t> caught_up{0};
  std::int64_t emptied_at = 0;  // under read_mu: when the last receive() found nothing more
  std::atomic<bool> thread_gone{false};
  std::atomic<int> waiters{0};
  std::mutex sync_mu;
  std::condition_variable synced;
  std::vector<char> buf = std::vector<char>(16384);
  std::vector<ProcEvent> batch;                            // pump()'s, reused
  std::vector<std::optional<ProcSnapshot>> exec_reads;     // per batch entry
  std::unordered_map<pid_t, std::size_t> last_exec;        // tgid -> its last exec in the batch
  // Staying awake after process activity (thread only; see run()).
  std::int64_t stay_awake_ns = 0;  // 0: never
  std::int64_t awake_until = 0;
  std::int64_t awake_tokens = kAwakeBurstNs;
  std::int64_t awake_clock = 0;
  bool awake = false;
  RunnableTasks runnable;
  long cpus = 1;
  std::int64_t spare_checked_at = 0;
  bool spare_cpu = true;
  bool overrun_logged = false;

  std::atomic<std::uint64_t> events{0}, forks{0}, execs{0}, exec_unread{0}, exits{0}, uid_changes{0},
      overruns{0};
  bool realtime = true;
  std::atomic<int> scheduling{0};  // 0 normal, 1 nice, 2 SCHED_FIFO

  // --- requests ----------------------------------------------------------------------------------

  Status send_request(std::uint32_t tag, const void* body, std::uint16_t body_len) {
    std::vector<char> msg(NLMSG_SPACE(kCnHeader + body_len), '\0');
    nlmsghdr nlh{};
    nlh.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(kCnHeader + body_len));
    nlh.nlmsg_type = NLMSG_DONE;
    nlh.nlmsg_seq = tag;
    nlh.nlmsg_pid = portid;
    std::memcpy(msg.data(), &nlh, sizeof nlh);
    char* cn = msg.data() + NLMSG_HDRLEN;
    const std::uint32_t idx = CN_IDX_PROC, val = CN_VAL_PROC;
    std::memcpy(cn + kCnIdx, &idx, sizeof idx);
    std::memcpy(cn + kCnVal, &val, sizeof val);
    std::memcpy(cn + kCnSeq, &tag, sizeof tag);
    std::memcpy(cn + kCnAck, &tag, sizeof tag);
    std::memcpy(cn + kCnLen, &body_len, sizeof body_len);
    std::memcpy(cn + kCnHeader, body, body_len);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
      ssize_t n = ::sendto(sock.get(), msg.data(), nlh.nlmsg_len, 0,
                           reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
      if (n >= 0) return {};
      if (errno != EINTR) return err("send to the process connector: " + errno_text(errno));
    }
  }

  Status subscribe() {
    sock.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR));
    if (!sock) {
      int e = errno;
      std::string why = "socket(NETLINK_CONNECTOR): " + errno_text(e);
      if (e == EPROTONOSUPPORT || e == EAFNOSUPPORT) why += " (kernel built without CONFIG_CONNECTOR)";
      return err(why);
    }
    const int size = kReceiveBufferBytes;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      (void)::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // capped by rmem_max
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = CN_IDX_PROC;  // nl_pid 0: the kernel picks a unique port id
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
      int e = errno;
      return err("bind to the process connector: " + errno_text(e) + (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
    }
    socklen_t alen = sizeof local;
    if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &alen) == 0) portid = local.nl_pid;

    // A plain listen (every kernel), then the same with a filter (>= 6.6; ignored before). The
    // filtered request is not acknowledged: its ack (event type "none") is dropped by the filter.
    const std::uint32_t tag = next_tag();
    const std::uint32_t op = kMcastListen;
    if (Status s = send_request(tag, &op, sizeof op); !s) return s;
    const ProcInput filter{kMcastListen, kWanted};
    if (Status s = send_request(tag + 2, &filter, sizeof filter); !s) return s;
    return await_ack(tag);
  }

  // The kernel answers a listen request synchronously, to every listener.
  Status await_ack(std::uint32_t tag) {
    bool acked = false;
    std::int32_t refused = 0;
    const std::int64_t deadline = monotonic_ns() + std::int64_t{kAckWaitMs} * 1'000'000;
    auto on_event = [&](const ProcEvent& e) {
      if (e.kind != ProcEvent::Kind::Ack) return handle(e);
      if (e.ack == tag + 1) {
        acked = true;
        refused = e.err;
      }
    };
    while (!acked) {
      const std::int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
      if (left_ms <= 0) break;
      pollfd p{sock.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
      receive(kMaxDatagramsPerPump, on_event);
    }
    if (!acked)
      return err("the process connector did not answer the listen request (it needs the initial "
                 "pid and user namespaces, and CAP_NET_ADMIN on older kernels)");
    if (refused != 0) return err("the process connector refused to listen: " + errno_text(refused));
    return {};
  }

  void unsubscribe() {
    const std::uint32_t op = kMcastIgnore;
    (void)send_request(next_tag(), &op, sizeof op);
  }

  // --- receiving -----------------------------------------------------------------------------------

  // Up to max datagrams, without blocking. Caller holds read_mu (or is the only reader yet).
  template <typename Fn>
  void receive(int max, Fn&& fn) {
    for (int i = 0; i < max; ++i) {
      sockaddr_nl from{};
      socklen_t flen = sizeof from;
      const std::int64_t asked_at = monotonic_ns();
      ssize_t n = ::recvfrom(sock.get(), buf.data(), buf.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {
          ++overruns;
          if (!overrun_logged) {
            overrun_logged = true;
            log::warn(kComponent, "process events lost (socket buffer overrun); attribution of "
                                  "processes that exit quickly may be incomplete");
          }
          continue;
        }
        emptied_at = asked_at;  // EAGAIN: everything queued before asked_at has been received
        return;
      }
      if (from.nl_pid != 0) continue;  // only the kernel speaks for the connector
      parse_connector_datagram(buf.data(), static_cast<std::size_t>(n), fn);
    }
  }

  // Everything queued (up to a bound) is received first, then the program of each exec'd process
  // is read before anything else is done: when the thread is behind, that is what will not wait.
  // Then the events are applied in order.
  // from_thread: called by the connector's own thread (which alone stays awake after activity).
  void pump(bool from_thread) {
    std::lock_guard lock(read_mu);
    batch.clear();
    emptied_at = 0;
    receive(kMaxDatagramsPerPump, [this](const ProcEvent& e) { batch.push_back(e); });
    apply_batch(from_thread);
    if (emptied_at != 0) caught_up = emptied_at;
  }

  void apply_batch(bool from_thread) {
    if (batch.empty()) return;
    if (from_thread && stay_awake_ns > 0)
      for (const ProcEvent& e : batch) note_activity(e);
    exec_reads.assign(batch.size(), std::nullopt);
    last_exec.clear();
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (batch[i].kind == ProcEvent::Kind::Exec) last_exec[batch[i].tgid] = i;
    for (std::size_t i = 0; i < batch.size(); ++i)  // oldest first: the likeliest to exit next
      if (batch[i].kind == ProcEvent::Kind::Exec && last_exec[batch[i].tgid] == i)
        exec_reads[i] = snapshot_process(batch[i].tgid, SnapshotDepth::WithoutUid);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].kind != ProcEvent::Kind::Exec) {
        handle(batch[i]);
      } else if (last_exec[batch[i].tgid] == i) {
        on_exec(batch[i], std::move(exec_reads[i]));
      } else {
        // Exec'd again within the batch: what /proc shows now is the later program, not this one.
        on_exec(batch[i], std::nullopt);
      }
    }
  }

  // --- what each event means -------------------------------------------------------------------

  void handle(const ProcEvent& e) {
    switch (e.kind) {
      case ProcEvent::Kind::Fork:
        if (e.pid != e.tgid) return;  // a new thread
        ++events;
        ++forks;
        on_fork(e);
        return;
      case ProcEvent::Kind::Exec:
        on_exec(e, snapshot_process(e.tgid, SnapshotDepth::WithoutUid));
        return;
      case ProcEvent::Kind::Uid:
        ++events;
        ++uid_changes;
        history->set_uid(e.tgid, e.uid);
        return;
      case ProcEvent::Kind::Exit:
        if (e.pid != e.tgid) return;  // a thread; the process lives on
        ++events;
        ++exits;
        history->exited(e.tgid, e.time_ns);
        return;
      case ProcEvent::Kind::Ack:
      case ProcEvent::Kind::Other:
        return;
    }
  }

  std::string exe_of(std::uint32_t pid) {
    if (pid == 0) return {};
    if (auto g = history->running(static_cast<pid_t>(pid))) return std::move(g->info.exe);
    return read_exe(static_cast<pid_t>(pid));
  }

  // A fork copies the parent: its record is inherited, nothing is read but the login uid. Only a
  // parent we have no record of (it predates the listener) is read, and recorded too: it may exit
  // before its activity is drained.
  void on_fork(const ProcEvent& e) {
    std::optional<ProcessGeneration> parent = history->running(e.parent_tgid);
    if (!parent) {
      if (auto snap = snapshot_process(e.parent_tgid, SnapshotDepth::Full); snap && snap->complete) {
        snap->info.parent_exe = exe_of(snap->info.ppid);
        history->learn(e.parent_tgid, e.time_ns, snap->start_ticks, snap->info);
        parent = history->running(e.parent_tgid);
      }
    }
    agent::ProcessInfo child;
    std::uint64_t ticks = 0;  // unknown: not worth a read of the child's stat
    bool ids_known = true;
    if (parent) {
      child = std::move(parent->info);
      child.parent_exe = child.exe;
      child.ppid = static_cast<std::uint32_t>(e.parent_tgid);
      ids_known = parent->ids_known;
      // The child has the login uid its parent had at the fork, which the parent may have set
      // since it was recorded (pam_loginuid does). The parent's /proc entry is warm; a first
      // look at the child's would cost several times more.
      if (auto login = login_uid_of(e.parent_tgid)) child.login_uid = *login;
    } else if (auto snap = snapshot_process(e.tgid, SnapshotDepth::Full); snap && snap->complete) {
      child = std::move(snap->info);
      child.parent_exe = exe_of(child.ppid);
      ticks = snap->start_ticks;
    } else {
      ids_known = false;
    }
    child.pid = static_cast<std::uint32_t>(e.tgid);
    child.user.clear();
    // Even knowing nothing else, recording that the pid began here keeps a later reader from
    // giving its records to whoever had the pid before.
    history->begin(e.tgid, e.time_ns, ticks, /*by_exec=*/false, std::move(child), ids_known);
  }

  // snap: /proc/<pid> read as soon as the event was received; nothing if it could not be read.
  void on_exec(const ProcEvent& e, std::optional<ProcSnapshot> snap) {
    ++events;
    ++execs;
    agent::ProcessInfo info;
    std::uint64_t ticks = 0;
    bool ids_known = true;
    std::optional<ProcessGeneration> before = history->running(e.tgid);
    if (snap && snap->complete) {
      info = std::move(snap->info);
      ticks = snap->start_ticks;
      info.parent_exe = exe_of(info.ppid);
      if (before && before->ids_known) {
        info.uid = before->info.uid;  // not read (WithoutUid); an exec keeps the real uid
      } else if (auto uid = real_uid_of(e.tgid)) {
        info.uid = *uid;
      } else {
        ids_known = false;
      }
    } else if (before) {
      // Exited (or reaped) before /proc could be read in full: an exec keeps the parent and the
      // uids, so those come from the generation it replaced; the program, if it was read.
      info = std::move(before->info);
      info.exe = snap ? std::move(snap->info.exe) : std::string();
      info.comm.clear();
      ticks = before->start_ticks;
      ids_known = before->ids_known;
    } else {
      if (snap) info.exe = std::move(snap->info.exe);
      ids_known = false;
    }
    if (info.exe.empty()) ++exec_unread;
    info.pid = static_cast<std::uint32_t>(e.tgid);
    info.user.clear();
    history->begin(e.tgid, e.time_ns, ticks, /*by_exec=*/true, std::move(info), ids_known);
  }

  // --- the thread --------------------------------------------------------------------------------

  void raise_priority() {
    if (realtime) {
      sched_param sp{};
      sp.sched_priority = 1;
      if (::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp) == 0) {
        scheduling = 2;
        return;
      }
    }
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), -10) == 0) scheduling = 1;
  }

  void run() {
    raise_priority();
    pollfd fds[2] = {{sock.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
    for (;;) {
      // Blocks, unless process activity was just seen and more is likely to follow.
      const bool spin = stay_awake();
      int n = ::poll(fds, 2, spin ? 0 : -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        log::error(kComponent, "process connector: poll failed; events are now read at drain",
                   {{"error", errno_text(errno)}});
        thread_gone = true;
        return;
      }
      if (n == 0) {
        spin_pause();
        continue;
      }
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) {  // POLLERR too: the overrun is reported by recv
        busy = true;
        pump(true);
        busy = false;
        if (waiters > 0) {
          { std::lock_guard lock(sync_mu); }
          synced.notify_all();
        }
      }
    }
  }

  // --- staying awake through a burst of process activity ----------------------------------------
  // A thread blocked in poll() sleeps, and so may its CPU: waking an idle CPU (a deep C-state, or
  // a halted virtual CPU, which needs the hypervisor) can take a millisecond or more, as long as a
  // short process lives. Process activity comes in bursts (a script, a build step: fork, exec,
  // exit, fork again within a millisecond), so after each process event the thread polls without
  // sleeping for stay_awake_ns, from a budget (a share of one CPU, with a burst allowance), and
  // only on machines with more than one CPU (the processes it waits for must be able to run).

  void note_activity(const ProcEvent& e) {
    const bool process_event = (e.kind == ProcEvent::Kind::Fork || e.kind == ProcEvent::Kind::Exit)
                                   ? e.pid == e.tgid  // not a thread's
                                   : e.kind == ProcEvent::Kind::Exec;
    if (process_event) awake_until = monotonic_ns() + stay_awake_ns;
  }

  bool stay_awake() {
    const std::int64_t now = monotonic_ns();
    if (awake_clock != 0) {
      awake_tokens = std::min<std::int64_t>(kAwakeBurstNs, awake_tokens + (now - awake_clock) * kAwakeSharePermille / 1000);
      if (awake) awake_tokens -= now - awake_clock;  // spent polling
    }
    awake_clock = now;
    awake = now < awake_until && awake_tokens > 0 && no_one_waits_for_a_cpu(now);
    return awake;
  }

  // Polling only pays while it keeps a CPU from going idle. Once more tasks are runnable than
  // there are CPUs, none is halted (nothing to avoid) and this real-time thread would take its
  // CPU from the work itself: on 2 CPUs, a bash loop creating files (mkdir between directories)
  // ran 5-25% slower beside it (docs/BENCHMARKS.md §7). Unknown counts as no one waiting.
  bool no_one_waits_for_a_cpu(std::int64_t now) {
    if (spare_checked_at != 0 && now - spare_checked_at < kSpareCpuRecheckNs) return spare_cpu;
    spare_checked_at = now;
    const auto n = runnable.count();  // this thread included
    spare_cpu = !n || static_cast<long>(*n) <= cpus;
    return spare_cpu;
  }

  static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  bool readable() const {
    pollfd p{sock.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // Whether everything queued before `before_ns` has been applied: the thread found the socket
  // empty after that time, or it is empty now and the thread holds nothing received but not yet
  // applied. The order of those two checks matters: an event received by the thread after the
  // socket was seen empty came later; one received before keeps `busy` set until it is applied.
  bool applied(std::int64_t before_ns) const {
    return caught_up >= before_ns || (!readable() && !busy);
  }

  bool sync(std::int64_t before_ns, std::int64_t deadline_ns) {
    if (thread_gone) {
      pump(false);
      return !readable();
    }
    if (applied(before_ns)) return true;
    ++waiters;
    bool done = false;
    while (!done && monotonic_ns() < deadline_ns) {
      std::unique_lock lock(sync_mu);
      synced.wait_for(lock, std::chrono::microseconds(500));
      done = applied(before_ns);
    }
    --waiters;
    return done;
  }
};

ProcConnector::ProcConnector(std::shared_ptr<ProcessHistory> history) : s_(std::make_unique<State>()) {
  s_->history = std::move(history);
}

Result<std::unique_ptr<ProcConnector>> ProcConnector::open(std::shared_ptr<ProcessHistory> history) {
  return open(std::move(history), Options{});
}

Result<std::unique_ptr<ProcConnector>> ProcConnector::open(std::shared_ptr<ProcessHistory> history,
                                                           Options options) {
  if (!history) return err("process connector: no history to record into");
  std::unique_ptr<ProcConnector> c(new ProcConnector(std::move(history)));
  State& s = *c->s_;
  s.realtime = options.realtime;
  s.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (options.stay_awake_ns > 0 && s.cpus > 1) s.stay_awake_ns = options.stay_awake_ns;
  if (Status st = s.subscribe(); !st) return err(st.error());
  s.stop.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s.stop) {
    s.unsubscribe();
    return err("eventfd: " + errno_text(errno));
  }
  // The thread takes no signals: they belong to the agent's loop.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    s.thread = std::thread([&s] { s.run(); });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    s.unsubscribe();
    return err(std::string("process connector thread: ") + e.what());
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_setname_np(s.thread.native_handle(), "vigil-procev");
  return c;
}

ProcConnector::~ProcConnector() {
  if (!s_) return;
  if (s_->thread.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(s_->stop.get(), &one, sizeof one);
    s_->thread.join();
  }
  if (s_->sock) s_->unsubscribe();
}

void ProcConnector::pump() { s_->pump(false); }

bool ProcConnector::sync(std::int64_t queued_before_ns, std::int64_t deadline_ns) {
  return s_->sync(queued_before_ns, deadline_ns);
}

std::string ProcConnector::scheduling() const {
  switch (s_->scheduling.load()) {
    case 2: return "SCHED_FIFO 1";
    case 1: return "nice -10";
    default: return "normal";
  }
}

ProcConnector::Counters ProcConnector::counters() const {
  Counters c;
  c.events = s_->events;
  c.forks = s_->forks;
  c.execs = s_->execs;
  c.exec_unread = s_->exec_unread;
  c.exits = s_->exits;
  c.uid_changes = s_->uid_changes;
  c.overruns = s_->overruns;
  return c;
}

}  // namespace vigil::platform
