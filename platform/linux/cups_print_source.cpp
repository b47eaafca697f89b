#include "platform/linux/cups_print_source.h"

#include <cups/cups.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::platform {

namespace {

// Subscriptions and requests that are about the whole server, not one printer.
constexpr const char* kServerUri = "ipp://localhost/";
// A request that has not answered for this long is given up (the connection is then dropped).
constexpr int kRequestTimeoutSeconds = 30;
constexpr int kConnectTimeoutMs = 3000;
// How long pulling stays fast after the last job-created without its job-completed (a job that
// vanished without notice must not keep the pace up forever).
constexpr auto kBusyWindow = std::chrono::minutes(10);

struct HttpCloser {
  void operator()(http_t* h) const {
    if (h) httpClose(h);
  }
};
using HttpPtr = std::unique_ptr<http_t, HttpCloser>;
struct IppDeleter {
  void operator()(ipp_t* p) const {
    if (p) ippDelete(p);
  }
};
using IppPtr = std::unique_ptr<ipp_t, IppDeleter>;

bool is_string_tag(ipp_tag_t t) {
  return (t >= IPP_TAG_TEXT && t <= IPP_TAG_MIMETYPE) || t == IPP_TAG_TEXTLANG || t == IPP_TAG_NAMELANG;
}

ipp_attribute_t* find(ipp_t* ipp, const char* name) {
  return ipp ? ippFindAttribute(ipp, name, IPP_TAG_ZERO) : nullptr;
}

// The attribute's values as text, joined with ','; "" when absent or not text.
std::string text_of(ipp_attribute_t* a) {
  if (!a || !is_string_tag(ippGetValueTag(a))) return "";
  std::string out;
  for (int i = 0; i < ippGetCount(a); ++i) {
    const char* s = ippGetString(a, i, nullptr);
    if (i) out.push_back(',');
    if (s) out += s;
  }
  return out;
}

// The first of `job` / `event` that has the attribute as text.
std::string text(ipp_t* job, ipp_t* event, const char* name) {
  for (ipp_t* src : {job, event}) {
    ipp_attribute_t* a = find(src, name);
    if (a && is_string_tag(ippGetValueTag(a))) return text_of(a);
  }
  return "";
}

// An integer or enum value; nullopt-like -1 sentinel avoided: `found` says whether it was there.
bool integer(ipp_t* job, ipp_t* event, const char* name, int& out) {
  for (ipp_t* src : {job, event}) {
    ipp_attribute_t* a = find(src, name);
    if (!a || ippGetCount(a) < 1) continue;
    ipp_tag_t t = ippGetValueTag(a);
    if (t != IPP_TAG_INTEGER && t != IPP_TAG_ENUM) continue;
    out = ippGetInteger(a, 0);
    return true;
  }
  return false;
}

// date-time-at-X (dateTime) when present, else time-at-X (CUPS: seconds since the epoch).
std::int64_t time_at(ipp_t* job, ipp_t* event, const char* what) {
  std::string date_name = std::string("date-time-at-") + what;
  for (ipp_t* src : {job, event}) {
    ipp_attribute_t* a = find(src, date_name.c_str());
    if (a && ippGetValueTag(a) == IPP_TAG_DATE && ippGetCount(a) > 0)
      return static_cast<std::int64_t>(ippDateToTime(ippGetDate(a, 0))) * 1000000000LL;
  }
  int secs = 0;
  std::string time_name = std::string("time-at-") + what;
  // CUPS sends time-at-completed = 0 (or no-value) while a job is not finished.
  if (integer(job, event, time_name.c_str(), secs) && secs > 0) return static_cast<std::int64_t>(secs) * 1000000000LL;
  return 0;
}

std::uint32_t non_negative(int v) { return v > 0 ? static_cast<std::uint32_t>(v) : 0u; }

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

ipp_status_t status_of(ipp_t* response) {
  return response ? ippGetStatusCode(response) : cupsLastError();
}

bool failed(ipp_status_t s) { return s > IPP_STATUS_OK_EVENTS_COMPLETE; }

std::string describe(ipp_t* response) {
  ipp_status_t s = status_of(response);
  std::string msg = ippErrorString(s);
  if (!response || failed(s)) {
    const char* detail = cupsLastErrorString();
    if (detail && *detail && msg != detail) msg += std::string(": ") + detail;
  }
  return msg;
}

// The requests carry the agent's own user; over a unix socket CUPS checks it against the peer's
// credentials (SO_PEERCRED), so no password is involved.
void add_common(ipp_t* req) {
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, kServerUri);
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, cupsUser());
}

// Splits a Get-Notifications response into one ipp_t per event notification group.
std::vector<IppPtr> event_groups(ipp_t* response) {
  std::vector<IppPtr> out;
  ipp_t* current = nullptr;
  for (ipp_attribute_t* a = ippFirstAttribute(response); a; a = ippNextAttribute(response)) {
    if (ippGetGroupTag(a) != IPP_TAG_EVENT_NOTIFICATION || !ippGetName(a)) {
      current = nullptr;  // a separator or another group ends the event
      continue;
    }
    if (!current) {
      out.emplace_back(ippNew());
      current = out.back().get();
    }
    ippCopyAttribute(current, a, 0);
  }
  return out;
}

// What the job-attributes request asks for (everything PrintActivity carries).
const char* const kJobAttributes[] = {
    "job-id", "job-name", "job-impressions-completed", "copies", "job-k-octets",
    "job-originating-user-name", "job-originating-host-name", "document-format",
    "time-at-creation", "time-at-completed", "date-time-at-creation", "date-time-at-completed",
    "job-state", "job-state-reasons", "job-printer-uri",
};

}  // namespace

std::string job_state_name(int state) {
  switch (state) {
    case IPP_JSTATE_PENDING: return "pending";
    case IPP_JSTATE_HELD: return "held";
    case IPP_JSTATE_PROCESSING: return "processing";
    case IPP_JSTATE_STOPPED: return "stopped";
    case IPP_JSTATE_CANCELED: return "canceled";
    case IPP_JSTATE_ABORTED: return "aborted";
    case IPP_JSTATE_COMPLETED: return "completed";
  }
  return "unknown(" + std::to_string(state) + ")";
}

std::string printer_name_from_uri(const std::string& uri) {
  for (const char* marker : {"/printers/", "/classes/"}) {
    auto at = uri.find(marker);
    if (at == std::string::npos) continue;
    std::string rest = uri.substr(at + std::strlen(marker));
    rest = rest.substr(0, rest.find_first_of("/?#"));
    return percent_decode(rest);
  }
  return "";
}

agent::PrintActivity print_activity_from_attributes(ipp_t* job, ipp_t* event) {
  agent::PrintActivity a;
  a.printer_uri = text(job, nullptr, "job-printer-uri");
  if (a.printer_uri.empty()) a.printer_uri = text(event, nullptr, "notify-printer-uri");
  if (a.printer_uri.empty()) a.printer_uri = text(event, nullptr, "printer-uri");
  a.printer = printer_name_from_uri(a.printer_uri);
  if (a.printer.empty()) a.printer = text(job, event, "printer-name");
  a.title = text(job, event, "job-name");
  int v = 0;
  if (integer(job, event, "job-impressions-completed", v)) a.pages = non_negative(v);
  // IPP: a job without copies prints copies-default, which CUPS' own default is 1; 0 would
  // wrongly read as "printed nothing".
  a.copies = integer(job, event, "copies", v) ? non_negative(v) : 1;
  if (integer(job, event, "job-k-octets", v)) a.bytes = static_cast<std::uint64_t>(non_negative(v)) * 1024u;
  if (integer(job, event, "job-id", v) || integer(job, event, "notify-job-id", v)) a.job_id = non_negative(v);
  if (integer(job, event, "job-state", v)) a.state = job_state_name(v);
  a.state_reasons = text(job, event, "job-state-reasons");
  a.job_user = text(job, event, "job-originating-user-name");
  a.origin_host = text(job, event, "job-originating-host-name");
  a.document_format = text(job, event, "document-format");
  a.created_ns = time_at(job, event, "creation");
  a.completed_ns = time_at(job, event, "completed");
  return a;
}

// ---------------------------------------------------------------------------------------------
// One connection to the server and the subscription made on it. Lives on the puller thread.

class CupsPrintSource::Session {
 public:
  enum class Outcome { Ok, SubscriptionGone, ConnectionLost };

  Session(CupsPrintSource& owner) : owner_(owner) {}
  ~Session() = default;

  // Connects, then resumes the previous subscription (prev_id > 0) when the server still has it,
  // so notifications buffered meanwhile are not lost; else subscribes afresh.
  Status open(int prev_id, int prev_seq) {
    http_.reset(httpConnect2(owner_.host_.c_str(), owner_.port_, nullptr, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED,
                             1, kConnectTimeoutMs, nullptr));
    if (!http_) return err("cannot connect to " + owner_.server_label_ + ": " + cupsLastErrorString());
    httpSetTimeout(http_.get(), 1.0, &Session::keep_waiting, this);
    // PeerCred: CUPS verifies the claimed user against the socket's peer credentials, so the
    // agent (root, in @SYSTEM) sees private job values. Only meaningful on a local socket.
    if (!owner_.host_.empty() && owner_.host_[0] == '/') httpSetAuthString(http_.get(), "PeerCred", cupsUser());
    if (prev_id > 0) {
      id_ = prev_id;
      next_seq_ = prev_seq;
      if (renew() == Outcome::Ok) {
        resumed_ = true;
        return {};
      }
      id_ = 0;
    }
    return subscribe();
  }

  bool resumed() const { return resumed_; }
  int next_seq() const { return next_seq_; }

  Status subscribe() {
    ipp_t* req = ippNewRequest(IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS);
    add_common(req);
    // job-created only sets the pace of pulling (see run()); job-completed carries the records.
    const char* events[] = {"job-created", "job-completed"};
    ippAddStrings(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events", 2, nullptr, events);
    ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-pull-method", nullptr, "ippget");
    ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration", lease_seconds());
    IppPtr resp(do_request(req));
    if (!resp || failed(status_of(resp.get()))) return err("Create-Printer-Subscriptions: " + describe(resp.get()));
    ipp_attribute_t* id = ippFindAttribute(resp.get(), "notify-subscription-id", IPP_TAG_INTEGER);
    if (!id || ippGetInteger(id, 0) <= 0) return err("Create-Printer-Subscriptions: no notify-subscription-id in the answer");
    id_ = ippGetInteger(id, 0);
    next_seq_ = 1;
    renewed_ = std::chrono::steady_clock::now();
    return {};
  }

  int id() const { return id_; }
  std::chrono::milliseconds interval() const { return interval_; }

  // Renews the lease when half of what is surely left of it has passed. cupsd keeps the
  // expiry in whole seconds (time() + lease), so a lease of N s may end after N-1 s.
  Outcome renew_if_due() {
    if (std::chrono::steady_clock::now() - renewed_ < owner_.sure_lease() / 2) return Outcome::Ok;
    return renew();
  }

  Outcome renew() {
    auto now = std::chrono::steady_clock::now();
    ipp_t* req = ippNewRequest(IPP_OP_RENEW_SUBSCRIPTION);
    add_common(req);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", id_);
    ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration", lease_seconds());
    IppPtr resp(do_request(req));
    if (!resp) return Outcome::ConnectionLost;
    if (status_of(resp.get()) == IPP_STATUS_ERROR_NOT_FOUND) return Outcome::SubscriptionGone;
    if (failed(status_of(resp.get())))
      log::warn("print", "renewing the print subscription failed", {{"error", describe(resp.get())}});
    renewed_ = now;
    return Outcome::Ok;
  }

  // Pulls pending notifications; `lost` counts sequence numbers skipped by the server.
  Outcome pull(std::vector<IppPtr>& events, std::uint64_t& lost) {
    ipp_t* req = ippNewRequest(IPP_OP_GET_NOTIFICATIONS);
    add_common(req);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-ids", id_);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-sequence-numbers", next_seq_);
    IppPtr resp(do_request(req));
    if (!resp) return Outcome::ConnectionLost;
    ipp_status_t s = status_of(resp.get());
    if (s == IPP_STATUS_ERROR_NOT_FOUND) return Outcome::SubscriptionGone;
    if (failed(s)) {
      log::warn("print", "Get-Notifications failed", {{"error", describe(resp.get())}});
      return Outcome::ConnectionLost;  // start over on a fresh connection
    }
    if (ipp_attribute_t* g = ippFindAttribute(resp.get(), "notify-get-interval", IPP_TAG_INTEGER)) {
      std::chrono::milliseconds asked = std::chrono::seconds(std::max(1, ippGetInteger(g, 0)));
      if (asked != interval_)
        log::debug("print", "server's notify-get-interval", {{"seconds", std::to_string(ippGetInteger(g, 0))}});
      interval_ = asked;
    }
    for (auto& e : event_groups(resp.get())) {
      ipp_attribute_t* seq = ippFindAttribute(e.get(), "notify-sequence-number", IPP_TAG_INTEGER);
      ipp_attribute_t* sub = ippFindAttribute(e.get(), "notify-subscription-id", IPP_TAG_INTEGER);
      if (sub && ippGetInteger(sub, 0) != id_) continue;
      if (seq) {
        int n = ippGetInteger(seq, 0);
        if (n < next_seq_) continue;  // already seen
        if (n > next_seq_) lost += static_cast<std::uint64_t>(n - next_seq_);
        next_seq_ = n + 1;
      }
      events.push_back(std::move(e));
    }
    return Outcome::Ok;
  }

  // The finished job's attributes; null when the server no longer has it (or did not answer).
  IppPtr job_attributes(int job_id) {
    ipp_t* req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES);
    add_common(req);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "job-id", job_id);
    ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
                  static_cast<int>(sizeof kJobAttributes / sizeof kJobAttributes[0]), nullptr, kJobAttributes);
    IppPtr resp(do_request(req));
    if (!resp || failed(status_of(resp.get()))) {
      log::debug("print", "Get-Job-Attributes failed; using the notification's attributes",
                 {{"job_id", std::to_string(job_id)}, {"error", describe(resp.get())}});
      return nullptr;
    }
    return resp;
  }

  void cancel() {
    if (!http_ || id_ <= 0) return;
    ipp_t* req = ippNewRequest(IPP_OP_CANCEL_SUBSCRIPTION);
    add_common(req);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", id_);
    cancelling_ = true;  // bounded even though the owner is stopping
    IppPtr resp(do_request(req));
    if (!resp || failed(status_of(resp.get())))
      log::debug("print", "cancelling the print subscription failed (its lease will expire)", {{"error", describe(resp.get())}});
    id_ = 0;
  }

 private:
  int lease_seconds() const { return static_cast<int>(std::clamp<std::int64_t>(owner_.tuning_.lease.count(), 1, 1 << 30)); }

  ipp_t* do_request(ipp_t* req) {
    waited_ = 0;
    return cupsDoRequest(http_.get(), req, "/");
  }

  // libcups calls this each second a request waits for data: keep waiting unless the source is
  // stopping or the server has been silent too long.
  static int keep_waiting(http_t*, void* data) {
    auto* self = static_cast<Session*>(data);
    if (++self->waited_ > (self->cancelling_ ? 2 : kRequestTimeoutSeconds)) return 0;
    return self->cancelling_ || !self->owner_.stopping_.load() ? 1 : 0;
  }

  CupsPrintSource& owner_;
  HttpPtr http_;
  int id_ = 0;
  int next_seq_ = 1;
  int waited_ = 0;
  bool cancelling_ = false;
  bool resumed_ = false;
  std::chrono::steady_clock::time_point renewed_{};
  std::chrono::milliseconds interval_{1000};
};

// ---------------------------------------------------------------------------------------------

CupsPrintSource::CupsPrintSource(CupsSourceTuning tuning) : tuning_(tuning) {}

CupsPrintSource::~CupsPrintSource() {
  stopping_ = true;
  if (wake_) {
    std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

Status CupsPrintSource::start(const agent::PrintCaptureSpec& spec) {
  if (thread_.joinable()) return err("print capture already started");
  spec_ = spec;
  std::string s = spec.server.empty() ? std::string(cupsServer() ? cupsServer() : "") : spec.server;
  if (s.empty()) return err("no print server configured");
  if (s[0] == '/') {
    host_ = s;
    port_ = 0;
    server_label_ = s;
  } else {
    std::string host = s, port;
    if (s[0] == '[') {  // [v6]:port
      auto close = s.find(']');
      if (close == std::string::npos) return err("print server '" + s + "': unbalanced '['");
      host = s.substr(1, close - 1);
      if (close + 1 < s.size()) {
        if (s[close + 1] != ':') return err("print server '" + s + "': expected ':' after ']'");
        port = s.substr(close + 2);
      }
    } else if (auto colon = s.rfind(':'); colon != std::string::npos && s.find(':') == colon) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
    }
    port_ = ippPort();
    if (!port.empty()) {
      char* end = nullptr;
      long p = std::strtol(port.c_str(), &end, 10);
      if (*end || p < 1 || p > 65535) return err("print server '" + s + "': bad port");
      port_ = static_cast<int>(p);
    }
    if (host.empty()) return err("print server '" + s + "': no host");
    host_ = host;
    server_label_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port_);
  }

  // The spool changes when a job is submitted: a hint to pull at once instead of waiting for the
  // server's notify-get-interval. Optional: a remote server's spool is not here.
  if (!spec.spool_dir.empty()) {
    spool_hint_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (spool_hint_ && ::inotify_add_watch(spool_hint_.get(), spec.spool_dir.c_str(), IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
      log::debug("print", "print spool not watchable; pulling on the server's interval only",
                 {{"spool_dir", spec.spool_dir}, {"error", std::strerror(errno)}});
      spool_hint_.reset();
    }
  }
  ready_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ready_ || !wake_) return err(std::string("eventfd: ") + std::strerror(errno));
  thread_ = std::thread([this] { run(); });

  std::unique_lock lock(mu_);
  first_attempt_cv_.wait_for(lock, tuning_.start_wait, [this] { return first_attempt_done_.load(); });
  return {};
}

bool CupsPrintSource::sleep_for(std::chrono::milliseconds d, bool* hinted) {
  if (stopping_) return false;
  pollfd p[2] = {{wake_.get(), POLLIN, 0}, {spool_hint_.get(), POLLIN, 0}};
  const nfds_t n = hinted && spool_hint_ ? 2 : 1;
  int ms = static_cast<int>(std::min<std::int64_t>(d.count(), 1 << 30));
  int r;
  while ((r = ::poll(p, n, ms)) < 0 && errno == EINTR) {
  }
  if (r > 0 && n == 2 && (p[1].revents & POLLIN)) {
    // Something was written in the spool: coalesce the burst (control and data files), then pull.
    char buf[4096];
    while (::read(spool_hint_.get(), buf, sizeof buf) > 0) {
    }
    *hinted = true;
    pollfd w{wake_.get(), POLLIN, 0};
    ::poll(&w, 1, 50);
  }
  return !stopping_;
}

void CupsPrintSource::push(agent::PrintActivity&& a) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= tuning_.max_queue) ++lost_;
    else queue_.push_back(std::move(a));
  }
  std::uint64_t one = 1;
  (void)!::write(ready_.get(), &one, sizeof one);
}

void CupsPrintSource::count_lost(std::uint64_t n) {
  if (!n) return;
  {
    std::lock_guard lock(mu_);
    lost_ += n;
  }
  std::uint64_t one = 1;
  (void)!::write(ready_.get(), &one, sizeof one);
}

Result<agent::DrainStats> CupsPrintSource::drain(const std::function<void(agent::PrintActivity&&)>& sink) {
  std::uint64_t counter = 0;
  if (::read(ready_.get(), &counter, sizeof counter) < 0 && errno != EAGAIN)
    return err(std::string("reading the print eventfd: ") + std::strerror(errno));
  std::deque<agent::PrintActivity> batch;
  agent::DrainStats stats;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
    stats.overflows = std::exchange(lost_, 0);
  }
  for (auto& a : batch) {
    ++stats.activities;
    sink(std::move(a));
  }
  return stats;
}

void CupsPrintSource::run() {
  // libcups may write with send() without MSG_NOSIGNAL: a server dying mid-request must not kill
  // the agent with SIGPIPE. Blocked here, the write fails with EPIPE and the signal stays pending
  // on this thread only.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  // Never ask for a password: libcups' default would prompt on the agent's terminal. Without one,
  // a request the server wants authenticated (beyond PeerCred) fails and is reported as such.
  cupsSetPasswordCB2([](const char*, http_t*, const char*, const char*, void*) -> const char* { return nullptr; }, nullptr);
  auto backoff = tuning_.min_backoff;
  bool failing = false;   // a failure streak is logged once, at its start
  bool ever_subscribed = false;
  auto note_first_attempt = [this] {
    if (first_attempt_done_.exchange(true)) return;
    std::lock_guard lock(mu_);
    first_attempt_cv_.notify_all();
  };

  int sub_id = 0, next_seq = 1;  // kept across connections, to resume the subscription
  std::set<int> active;          // jobs seen created and not yet finished (bounded)
  auto busy_until = std::chrono::steady_clock::now();
  while (!stopping_) {
    Session session(*this);
    if (auto s = session.open(sub_id, next_seq); !s) {
      if (!failing) {
        log::warn("print", ever_subscribed ? "lost the print server; resubscribing with backoff"
                                           : "print server not reachable; retrying with backoff",
                  {{"server", server_label_}, {"error", s.error()}});
        failing = true;
      }
      note_first_attempt();
      if (!sleep_for(backoff)) break;
      backoff = std::min(backoff * 2, tuning_.max_backoff);
      continue;
    }
    subscription_id_ = session.id();
    if (!session.resumed()) ++subscriptions_made_;
    if (failing || !ever_subscribed)
      log::info("print", !failing ? "subscribed to print job notifications"
                         : session.resumed() ? "print server reachable again; subscription resumed"
                                             : "print server reachable again; subscribed",
                {{"server", server_label_}, {"subscription", std::to_string(session.id())}});
    failing = false;
    ever_subscribed = true;
    note_first_attempt();

    auto outcome = Session::Outcome::Ok;
    while (!stopping_ && outcome == Session::Outcome::Ok) {
      if ((outcome = session.renew_if_due()) != Session::Outcome::Ok) break;
      std::vector<IppPtr> events;
      std::uint64_t lost = 0;
      if ((outcome = session.pull(events, lost)) != Session::Outcome::Ok) break;
      // Only a pull that worked ends a failure streak: a server that accepts subscriptions but
      // refuses pulls must not make us subscribe in a tight loop.
      backoff = tuning_.min_backoff;
      if (lost) {
        log::warn("print", "print notifications lost by the server (event buffer overflow)", {{"count", std::to_string(lost)}});
        count_lost(lost);
      }
      for (auto& e : events) {
        std::string what = text_of(ippFindAttribute(e.get(), "notify-subscribed-event", IPP_TAG_ZERO));
        int job_id = 0;
        integer(nullptr, e.get(), "notify-job-id", job_id);
        if (what == "job-created") {
          if (active.size() < 4096) active.insert(job_id);
          busy_until = std::chrono::steady_clock::now() + kBusyWindow;
          continue;
        }
        if (what != "job-completed") continue;
        active.erase(job_id);
        IppPtr job = job_id > 0 ? session.job_attributes(job_id) : nullptr;
        agent::PrintActivity a = print_activity_from_attributes(job.get(), e.get());
        if (!a.job_id && job_id > 0) a.job_id = static_cast<std::uint32_t>(job_id);
        a.time_ns = now_ns();
        a.server = server_label_;
        if (a.job_id) {
          // The spooled documents: d<job>-001, -002, ... while CUPS keeps them.
          std::uint64_t total = 0;
          for (int doc = 1; doc < 1000; ++doc) {
            char name[64];
            std::snprintf(name, sizeof name, "/d%05u-%03d", a.job_id, doc);
            std::string path = spec_.spool_dir + name;
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK) != 0) break;
            if (doc == 1) a.document_path = path;
            total += static_cast<std::uint64_t>(st.st_size);
          }
          if (!a.document_path.empty()) a.bytes = total;
        }
        push(std::move(a));
      }
      // Pace: the server's notify-get-interval while nothing is printing (CUPS says 60 s); while
      // a job we saw created has not finished, at most max_poll_interval; a spool change (a job
      // being submitted here) cuts the wait short.
      auto pace = std::min<std::chrono::milliseconds>({session.interval(), tuning_.max_idle_interval,
                                                       sure_lease() / 4});
      if (active.empty() || std::chrono::steady_clock::now() > busy_until) active.clear();
      else pace = std::min(pace, tuning_.max_poll_interval);
      bool hinted = false;
      if (!sleep_for(pace, &hinted)) break;
    }
    subscription_id_ = 0;
    sub_id = session.id();
    next_seq = session.next_seq();
    if (stopping_) {
      session.cancel();
      break;
    }
    if (outcome == Session::Outcome::SubscriptionGone) {
      sub_id = 0;
      log::info("print", "print subscription expired or was removed; resubscribing", {{"server", server_label_}});
      if (!sleep_for(backoff)) break;
      backoff = std::min(backoff * 2, tuning_.max_backoff);
      continue;
    }
    log::warn("print", "lost the print server; resubscribing with backoff", {{"server", server_label_}});
    failing = true;
    if (!sleep_for(backoff)) break;
    backoff = std::min(backoff * 2, tuning_.max_backoff);
  }
  note_first_attempt();
}

}  // namespace vigil::platform

namespace vigil::agent {

std::unique_ptr<PrintActivitySource> make_print_activity_source() {
  return std::make_unique<platform::CupsPrintSource>();
}

}  // namespace vigil::agent
