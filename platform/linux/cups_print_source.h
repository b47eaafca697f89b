// CupsPrintSource: agent::PrintActivitySource on Linux, from CUPS' own notifications (an IPP
// subscription through libcups), not from its logs.
//
// How: a thread of its own connects to PrintCaptureSpec::server (a unix socket path, HOST:PORT,
// HOST, or "" for the system's default: CUPS_SERVER / client.conf / /run/cups/cups.sock),
// creates a printer subscription on ipp://localhost/ (all printers and classes) for the events
// job-completed (CUPS sends it when a job reaches any final state: completed, canceled, aborted)
// and job-created (only to pace the pulls, below) with notify-pull-method ippget and a lease it
// renews at half-life, and pulls Get-Notifications. For each job-completed event it asks
// Get-Job-Attributes for the job and queues one PrintActivity; pollable_fd() (an eventfd) is
// readable while records are queued.
//
// Promises:
// - Every finished job the subscription sees becomes one record, in notification order. A job
//   with missing attributes (no title, no user, no size, already purged from the history) is
//   recorded with what the server did say: empty strings and zeros, never an error. When the
//   job's attributes cannot be fetched any more, the event's own attributes (job-name,
//   job-state, printer-name, ...) are used.
// - Lost notifications are counted, not hidden: a jump in notify-sequence-number (the server's
//   event buffer, MaxEvents, overflowed between two pulls) and records dropped because the
//   queue was full count as DrainStats::overflows.
// - The server going away (cupsd restarting, stopped, the socket missing) is survived: the
//   thread reconnects and resubscribes with exponential backoff (kMinBackoff..kMaxBackoff),
//   logging the first failure of a streak and the recovery once, not every retry. An expired or
//   vanished subscription (client-error-not-found) is recreated. start() therefore succeeds
//   without a print server; it waits briefly for the first subscription so that a job printed
//   right after start() is seen when the server is up.
// - Pulling: CUPS' scheduler ignores notify-wait (no long polling; measured on 2.4.2) and asks
//   for notify-get-interval = 60 s. That pace is honoured while nothing prints (capped at
//   max_idle_interval). The subscription also carries job-created: while a job seen created has
//   not finished (for at most 10 minutes), pulls are at most max_poll_interval apart. When
//   spool_dir can be watched (inotify; a local server), a file appearing in it (a job being
//   submitted) triggers a pull at once, so local jobs are reported within about
//   max_poll_interval of finishing. A job on a server whose spool is not visible here (remote,
//   or a spool_dir that is not its RequestRoot) may be reported up to one notify-get-interval
//   after it finished.
// - user: job-originating-user-name as the print system recorded it. CUPS hides private job
//   values (JobPrivateValues: job-name, user and host names) from requesters who are neither the
//   job's owner nor in @SYSTEM. The requests name the agent's own user (root, in SystemGroup),
//   and over a local socket also carry PeerCred authentication (CUPS checks it against the
//   socket's peer credentials; no password), so with the stock policy other users' jobs are
//   seen in full (tested with a job printed as another user, over the socket and over TCP). A
//   server whose policy still hides them gives empty values, recorded as such.
// - document_path: spool_dir/dNNNNN-001 when that file is readable (CUPS keeps job files for
//   PreserveJobFiles, one day by default); else empty. bytes: that file's size when readable,
//   else job-k-octets * 1024.
// - The subscription is cancelled on destruction (best effort; the lease expires otherwise).
// Not promised: jobs that finished while the agent was not running, or while it had no
// subscription (between a cupsd restart and the resubscription), are not reported.
//
// Thread-safety: start(), pollable_fd() and drain() belong to one thread (the agent's loop);
// the puller thread only touches the queue under its lock.
#pragma once
#include <cups/ipp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <algorithm>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "agent/capture.h"
#include "platform/linux/unique_fd.h"

namespace vigil::platform {

// Knobs with production defaults; tests shorten them.
struct CupsSourceTuning {
  std::chrono::milliseconds max_poll_interval{2000};   // while a job is printing
  std::chrono::milliseconds max_idle_interval{300000}; // cap on the server's notify-get-interval
  std::chrono::seconds lease{900};
  std::chrono::milliseconds min_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds start_wait{3000};  // how long start() waits for the first subscription
  std::size_t max_queue = 10000;               // records waiting for drain() before counting drops
};

// "completed", "canceled", ... for an IPP job-state enum (3..9); "unknown(N)" otherwise.
std::string job_state_name(int state);

// The printer's name from a printer or class URI (ipp://host/printers/NAME -> NAME; percent
// escapes decoded); "" when the URI has no such path.
std::string printer_name_from_uri(const std::string& uri);

// Builds the record for a finished job from the attributes CUPS gave: `job` (Get-Job-Attributes'
// job group; may be null) is preferred, `event` (the event notification's attributes; may be
// null) fills what it lacks. Never fails: what neither has stays empty / 0. time_ns, server,
// document_path and the file-size override of bytes are left to the caller.
agent::PrintActivity print_activity_from_attributes(ipp_t* job, ipp_t* event);

class CupsPrintSource final : public agent::PrintActivitySource {
 public:
  explicit CupsPrintSource(CupsSourceTuning tuning = {});
  ~CupsPrintSource() override;
  CupsPrintSource(const CupsPrintSource&) = delete;
  CupsPrintSource& operator=(const CupsPrintSource&) = delete;

  Status start(const agent::PrintCaptureSpec& spec) override;
  int pollable_fd() const override { return ready_.get(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::PrintActivity&&)>& sink) override;

  // For tests and diagnostics: whether a subscription is active now, and how many were made.
  bool subscribed() const { return subscription_id_.load() > 0; }
  int subscription_id() const { return subscription_id_.load(); }
  std::uint64_t subscriptions_made() const { return subscriptions_made_.load(); }
  // The server as resolved at start() (the default's socket path or host:port).
  const std::string& server() const { return server_label_; }

 private:
  class Session;  // one connection + subscription; lives on the puller thread
  void run();
  // Waits d, or less when stopping or (hinted given) the spool changed; false when stopping.
  bool sleep_for(std::chrono::milliseconds d, bool* hinted = nullptr);
  void push(agent::PrintActivity&& a);
  void count_lost(std::uint64_t n);
  // The part of the lease cupsd surely grants: it rounds the expiry to whole seconds.
  std::chrono::milliseconds sure_lease() const {
    return std::max<std::chrono::milliseconds>(tuning_.lease - std::chrono::seconds(1), std::chrono::milliseconds(500));
  }

  CupsSourceTuning tuning_;
  agent::PrintCaptureSpec spec_;
  std::string host_;      // what httpConnect2 gets: a socket path or a host name
  int port_ = 0;
  std::string server_label_;
  UniqueFd ready_;        // eventfd: readable while queue_ has records or lost_ > 0
  UniqueFd wake_;         // eventfd: wakes the puller out of its sleeps to stop
  UniqueFd spool_hint_;   // inotify on spec.spool_dir, when it can be watched
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> subscription_id_{0};
  std::atomic<std::uint64_t> subscriptions_made_{0};
  std::atomic<bool> first_attempt_done_{false};

  std::mutex mu_;
  std::condition_variable first_attempt_cv_;
  std::deque<agent::PrintActivity> queue_;
  std::uint64_t lost_ = 0;
};

}  // namespace vigil::platform
