#include "agent/agent_runtime.h"

#include <uv.h>

#include <filesystem>
#include <variant>

#include "agent/activity_deriver.h"
#include "agent/collection_config.h"
#include "agent/event_builder.h"
#include "agent/event_source.h"
#include "agent/reconciler.h"
#include "agent/security_event_source.h"
#include "agent/spool.h"
#include "agent/uploader.h"
#include "agent/watchdog.h"
#include "shared/file_util.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::agent {

namespace {

constexpr std::size_t kFlushEvents = 1024;
constexpr std::uint64_t kHeartbeatMs = 2000;
constexpr std::uint64_t kHealthMs = 60000;
constexpr std::uint64_t kCapCheckMs = 30000;
constexpr std::size_t kMaxReconcileEntries = kDefaultReconcileMaxEntries;

template <typename Handle>
void close_handle(Handle* h) {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(h))) uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
}

std::string normalize_root(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
  std::string s = ec ? p : abs.generic_string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

class Runtime {
  struct PolledSource {
    explicit PolledSource(std::unique_ptr<EventSource> s) : source(std::move(s)) {}
    std::unique_ptr<EventSource> source;
    uv_poll_t poll{};
    bool active = false;
  };

 public:
  Runtime(const RuntimeOptions& o, std::unique_ptr<FileActivitySource> source,
          std::unique_ptr<DeviceActivitySource> devices, std::vector<std::unique_ptr<EventSource>> extra)
      : opts_(o), source_(std::move(source)), devices_(std::move(devices)) {
    for (auto& e : extra) extra_.push_back(std::make_unique<PolledSource>(std::move(e)));
  }

  int run() {
    auto spool = Spool::open(opts_.paths.spool(), opts_.config.device_id, opts_.config.spool);
    if (!spool) return fail("opening the spool " + opts_.paths.spool() + ": " + spool.error());
    spool_ = std::move(*spool);
    const RunState previous = spool_->previous_run();

    load_collection_config_at_start();
    roots_ = watch_roots_for(collection_config());
    CaptureSpec spec;
    spec.watch_paths = roots_;
    spec.exclude_paths = capture_excludes_for(collection_config());
    excludes_ = spec.exclude_paths;
    // The deriver names the source of a copy from reads (docs/EXFILTRATION.md). They start on, so
    // nothing is missed before the volumes are known, and stay on only while they are needed.
    spec.report_reads = true;
    start_deriver();
    // Capture starts before the reconciliation scan, so nothing falls between the two.
    if (auto s = source_->start(spec); !s) return fail("starting file capture: " + s.error());
    start_device_capture();
    update_read_tracking();
    start_extra_sources();

    checkpoint_roots_ = reconcile_roots();
    if (auto s = report_gap_and_reconcile(previous); !s) return fail(s.error());
    if (auto s = spool_->heartbeat(now_ns()); !s) return fail(s.error());

    if (auto s = setup_uploader(); !s) return fail(s.error(), 2);
    wire_collection_config();
    uv_loop_init(&loop_);
    start_handles();
    uploader_ = std::make_unique<Uploader>(&loop_, *spool_, upload_opts_);
    uploader_->start();
    log::info("agent", "running", {{"device_id", opts_.config.device_id},
              {"watch", roots_.empty() ? std::string("(whole filesystem)") : join(roots_)},
              {"collector", opts_.config.server}});
    uv_run(&loop_, UV_RUN_DEFAULT);

    uploader_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // release the handles closed above
    uv_loop_close(&loop_);
    return exit_code_;
  }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string o;
    for (const auto& s : v) o += (o.empty() ? "" : ",") + s;
    return o;
  }

  int fail(const std::string& msg, int code = 1) {
    log::error("agent", msg);
    return code;
  }

  Status setup_uploader() {
    std::string host;
    std::uint16_t port = 0;
    if (!split_host_port(opts_.config.server, 7443, host, port))
      return err(opts_.paths.config() + ": server must be HOST:PORT, got '" + opts_.config.server + "'");
    TlsOptions t;
    t.role = TlsRole::Client;
    t.server_name = host;
    for (auto [file, into] : {std::pair{opts_.paths.ca(), &t.ca_pem}, {opts_.paths.cert(), &t.cert_pem}, {opts_.paths.key(), &t.key_pem}}) {
      auto content = read_file(file);
      if (!content) return err(content.error() + " (is this data directory enrolled?)");
      *into = std::move(*content);
    }
    auto cfg = TlsConfig::create(t);
    if (!cfg) return err("TLS setup: " + cfg.error());
    HostInfo hi = host_info();
    upload_opts_ = UploaderOptions{host, port, *cfg, hi.hostname, hi.os, VIGIL_VERSION};
    return {};
  }

  // Roots whose changes the checkpoint tracks: the watched paths, or the configured reconcile
  // roots when watching the whole filesystem.
  std::vector<std::string> reconcile_roots() const {
    if (!roots_.empty()) return roots_;
    std::vector<std::string> r;
    for (const auto& p : opts_.config.reconcile_roots)
      if (std::filesystem::exists(p)) r.push_back(normalize_root(p));
    return r;
  }

  // Commits each root's differences (and baselines new roots); returns the events appended.
  Result<std::uint64_t> reconcile_all() {
    std::uint64_t total = 0;
    for (const auto& root : reconcile_roots()) {
      auto r = reconcile_root(*spool_, root, excludes_, now_ns(), kMaxReconcileEntries);
      if (!r) return err("reconciling " + root + ": " + r.error());
      if (r->truncated) log::warn("agent", "reconciliation walk truncated", {{"root", root}, {"entries", std::to_string(r->entries_walked)}});
      auto n = commit_reconcile(*spool_, *r);
      if (!n) return err("recording the reconciliation of " + root + ": " + n.error());
      total += *n;
    }
    return total;
  }

  Status report_gap_and_reconcile(const RunState& previous) {
    auto reconciled = reconcile_all();
    if (!reconciled) return err(reconciled.error());
    if (previous.first_run) return {};
    std::int64_t now = now_ns();
    v1::Event gap;
    gap.set_type("agent.gap");
    gap.set_time_ns(now);
    auto* g = gap.mutable_gap();
    g->set_from_ns(previous.last_heartbeat_ns);
    g->set_to_ns(now);
    g->set_clean_shutdown(previous.clean_shutdown);
    g->set_reconciled_files(*reconciled);
    auto level = previous.clean_shutdown ? log::Level::Info : log::Level::Warn;
    log::write(level, "agent", previous.clean_shutdown ? "resuming after a stop" : "resuming after the agent was killed or crashed",
               {{"gap_from", format_rfc3339(previous.last_heartbeat_ns, 3)}, {"reconciled_files", std::to_string(*reconciled)}});
    std::vector<v1::Event> events{std::move(gap)};
    auto r = spool_->append(events);
    if (!r) return err("spooling the gap report: " + r.error());
    return {};
  }

  // USB devices and volumes are optional: without them the agent still records files.
  void start_device_capture() {
    if (!devices_) return;
    DeviceCaptureSpec spec;
    spec.removable_devices = opts_.config.removable_devices;
    if (auto s = devices_->start(spec); !s) {
      log::warn("devices", "device and volume capture unavailable; capturing files only", {{"error", s.error()}});
      devices_.reset();
      return;
    }
    // A stick plugged in before the agent started is removable media all the same.
    for (const auto& v : devices_->current_volumes()) deriver_->on_volume(v);
  }

  // Derived events (exfil.*, archives, mismatches) and classification: docs/EXFILTRATION.md.
  void start_deriver() {
    std::shared_ptr<const Classifier> classifier = classifier_;  // from a stored collection config
    if (!classifier) {
      if (auto c = Classifier::create({}); c) classifier = std::move(*c);
      else log::warn("classify", "content classification unavailable; derived events say status disabled", {{"error", c.error()}});
    }
    deriver_ = std::make_unique<ActivityDeriver>(derivation_options_, std::move(classifier));
    apply_watchdog_limits();
  }

  // Samples our own CPU and memory; sheds classification under pressure (docs/WATCHDOG.md).
  void watchdog_check() {
    if (!watchdog_.observe(sample_self())) return;
    const bool shed = watchdog_.shedding();
    deriver_->set_classification_enabled(!shed);
    log::write(shed ? log::Level::Warn : log::Level::Info, "watchdog",
               shed ? "over resource limits: shedding content classification" : "back under resource limits: classifying again",
               {{"pressure", watchdog_.pressure()}, {"cpu_percent", std::to_string(watchdog_.cpu_percent())},
                {"rss_bytes", std::to_string(watchdog_.rss_bytes())}});
    report_health();
    flush();
  }

  void start_extra_sources() {
    std::vector<std::unique_ptr<PolledSource>> started;
    for (auto& p : extra_) {
      if (auto s = p->source->start(); !s) {
        log::warn(p->source->name(), "capture unavailable; continuing without it", {{"error", s.error()}});
        continue;
      }
      started.push_back(std::move(p));
    }
    extra_.swap(started);
  }

  void start_extra_polls() {
    for (auto& p : extra_) {
      uv_poll_init(&loop_, &p->poll, p->source->pollable_fd());
      p->poll.data = this;
      p->active = true;
      uv_poll_start(&p->poll, UV_READABLE, [](uv_poll_t* h, int status, int) {
        auto* self = static_cast<Runtime*>(h->data);
        for (auto& p : self->extra_)
          if (&p->poll == h) {
            if (status < 0) log::error(p->source->name(), "poll failed", {{"error", uv_strerror(status)}});
            else self->drain_extra(*p);
          }
      });
    }
  }

  void drain_extra(PolledSource& p) {
    std::vector<v1::Event> out;
    auto stats = p.source->drain(out);
    if (!stats) {
      log::error(p.source->name(), "reading activity failed", {{"error", stats.error()}});
      return;
    }
    for (auto& e : out) pending_.push_back(std::move(e));
    if (stats->overflows) report_unsequenced_loss((p.source->name() + "_queue_overflow").c_str(), stats->overflows);
    // These events are rare and an investigator wants them soon: flush now.
    if (!out.empty() || stats->overflows) flush();
  }

  void start_handles() {
    start_extra_polls();
    if (devices_) {
      uv_poll_init(&loop_, &device_poll_, devices_->pollable_fd());
      device_poll_.data = this;
      device_poll_active_ = true;
      uv_poll_start(&device_poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
        auto* self = static_cast<Runtime*>(h->data);
        if (status < 0) log::error("devices", "poll failed", {{"error", uv_strerror(status)}});
        else self->drain_devices();
      });
    }
    uv_timer_init(&loop_, &batch_timer_);
    batch_timer_.data = this;
    start_file_poll();
    auto timer = [this](uv_timer_t& t, std::uint64_t ms, uv_timer_cb cb) {
      uv_timer_init(&loop_, &t);
      t.data = this;
      uv_timer_start(&t, cb, ms, ms);
    };
    timer(flush_timer_, opts_.config.flush_interval_ms, [](uv_timer_t* t) {
      auto* self = static_cast<Runtime*>(t->data);
      self->deriver_->tick(now_ns(), self->pending_);  // quiet bursts, finished classifications
      self->flush();
    });
    timer(watchdog_timer_, opts_.config.watchdog_interval_ms, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->watchdog_check(); });
    timer(heartbeat_timer_, kHeartbeatMs, [](uv_timer_t* t) {
      auto* self = static_cast<Runtime*>(t->data);
      if (auto s = self->spool_->heartbeat(now_ns()); !s) log::error("agent", "heartbeat failed", {{"error", s.error()}});
    });
    timer(health_timer_, kHealthMs, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->report_health(); });
    timer(cap_timer_, kCapCheckMs, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->enforce_caps(); });
    if (stop_) {
      uv_poll_init(&loop_, &stop_poll_, stop_->pollable_fd());
      stop_poll_.data = this;
      uv_poll_start(&stop_poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
        if (status >= 0) static_cast<Runtime*>(h->data)->drain_stop_requests();
      });
      return;
    }
    // Without the signalfd source the agent still stops cleanly, only without naming the sender.
    for (auto* s : {&sigterm_, &sigint_}) {
      uv_signal_init(&loop_, s);
      s->data = this;
    }
    auto on_signal = [](uv_signal_t* s, int signum) { static_cast<Runtime*>(s->data)->shutdown(signum); };
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_signal_start(&sigint_, on_signal, SIGINT);
  }

  // Every stop request is recorded as agent.tamper naming the sender (a service manager stopping
  // the agent and a user killing it look alike here; the sender tells them apart). SIGHUP is
  // recorded and otherwise ignored: it used to kill the agent, and stopping is for TERM and INT.
  void drain_stop_requests() {
    int stop_signal = 0;
    auto stats = stop_->drain([&](StopRequest&& r) {
      TamperActivity t;
      t.time_ns = now_ns();
      const bool stops = r.signal == SIGTERM || r.signal == SIGINT;
      t.what = stops ? "stopped" : "signalled";
      t.item = r.signal_name;
      t.signal = r.signal;
      t.sender_pid = r.sender_pid;
      t.sender_uid = r.sender_uid;
      t.sender_exe = r.sender_exe;
      t.detail = stops ? "the agent stops on this signal" : "ignored";
      log::write(stops ? log::Level::Info : log::Level::Warn, "agent", stops ? "stop requested" : "signal ignored",
                 {{"signal", r.signal_name}, {"sender_pid", std::to_string(r.sender_pid)}, {"sender_exe", r.sender_exe}});
      pending_.push_back(make_tamper_event(t));
      if (stops && !stop_signal) stop_signal = r.signal;
    });
    if (!stats) log::error("agent", "reading stop requests failed", {{"error", stats.error()}});
    if (stop_signal) shutdown(stop_signal);
    else flush();
  }

  // Events the kernel could not deliver never got seqs; an agent.loss with the count says so.
  void report_unsequenced_loss(const char* reason, std::uint64_t count) {
    dropped_ += count;
    v1::Event loss;
    loss.set_type("agent.loss");
    loss.set_time_ns(now_ns());
    loss.mutable_loss()->set_reason(reason);
    loss.mutable_loss()->set_events(count);
    pending_.push_back(std::move(loss));
  }

  // Returns how many activities it handed on (0 after an error, which it logs).
  std::uint64_t drain_capture() {
    auto stats = source_->drain([this](FileActivity&& a) { deriver_->on_file(a, pending_); });
    if (!stats) {
      log::error("capture", "reading file activity failed", {{"error", stats.error()}});
      return 0;
    }
    if (stats->overflows) {
      // The kernel dropped events before we saw them: say so, then look at the watched paths
      // again so what changed meanwhile is still recorded.
      report_unsequenced_loss("kernel_queue_overflow", stats->overflows);
      log::warn("capture", "kernel event queue overflowed; reconciling watched paths", {{"overflows", std::to_string(stats->overflows)}});
      flush();
      reconcile_now();
    }
    if (pending_.size() >= kFlushEvents) flush();
    return stats->activities;
  }

  void drain_devices() {
    if (!devices_) return;
    auto stats = devices_->drain([this](DeviceSourceRecord&& r) {
      if (auto* d = std::get_if<DeviceActivity>(&r)) pending_.push_back(make_device_event(*d));
      else {
        deriver_->on_volume(std::get<VolumeActivity>(r));
        pending_.push_back(make_volume_event(std::get<VolumeActivity>(r)));
      }
    });
    if (!stats) {
      log::error("devices", "reading device activity failed", {{"error", stats.error()}});
      return;
    }
    if (stats->overflows) {
      // Device notifications the kernel could not deliver: say so (there is nothing to rescan).
      report_unsequenced_loss("uevent_queue_overflow", stats->overflows);
    }
    if (stats->activities) update_read_tracking();
    // Device events are rare and an investigator wants them soon: flush now.
    if (stats->activities || stats->overflows) flush();
  }

  // Reads (read-only closes) only serve to name the source of a copy onto a removable volume or a
  // network share, and each one costs the process that makes it a kernel record: with no such
  // volume mounted they are not captured (track_reads = "always" keeps them). Without device
  // capture the volumes are unknown, so reads stay on. docs/DECISIONS.md.
  void update_read_tracking() {
    const bool want = opts_.config.track_reads_always || !devices_ || deriver_->exfil_volumes_mounted();
    if (want == reads_tracked_) return;
    if (auto s = source_->set_report_reads(want); !s) {
      log::info("capture", "reads cannot be switched", {{"error", s.error()}});
      if (!want) return;  // still reporting them: the deriver keeps using them
    }
    reads_tracked_ = want;
    deriver_->set_reads_tracked(want);
    log::info("capture", want ? "capturing reads: a removable volume or network share is mounted"
                              : "not capturing reads: no removable volume or network share is mounted");
  }

  void reconcile_now() {
    auto n = reconcile_all();
    if (!n) log::error("agent", "reconcile failed", {{"error", n.error()}});
    else if (*n && uploader_) uploader_->kick();
  }

  void append(std::vector<v1::Event>& events, const std::vector<CheckpointEntry>& updates) {
    auto r = spool_->append(events, updates);
    if (!r) {
      // Keep them in memory and retry on the next flush rather than lose them.
      log::error("spool", "append failed; will retry", {{"error", r.error()}, {"events", std::to_string(events.size())}});
      for (auto& e : events) retry_.push_back(std::move(e));
      return;
    }
    if (spool_->bytes() > opts_.config.spool.max_bytes) enforce_caps();
    if (uploader_) uploader_->kick();
  }

  void flush() {
    if (!retry_.empty()) {
      std::vector<v1::Event> again;
      again.swap(retry_);
      for (auto& e : pending_) again.push_back(std::move(e));
      pending_.swap(again);
    }
    while (!pending_.empty()) {
      std::size_t n = std::min(pending_.size(), kFlushEvents * 4);
      std::vector<v1::Event> chunk(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      auto updates = checkpoint_updates_for(*spool_, chunk);
      if (!updates) {
        log::error("spool", "reading the checkpoint failed", {{"error", updates.error()}});
        append(chunk, {});
      } else {
        append(chunk, only_under_reconcile_roots(std::move(*updates)));
      }
    }
  }

  // The checkpoint exists for reconciliation: paths outside its roots (all of /var and /tmp when
  // watching everything) would only make it grow without bound.
  std::vector<CheckpointEntry> only_under_reconcile_roots(std::vector<CheckpointEntry> updates) const {
    if (!roots_.empty()) return updates;  // --watch: the watched roots are the reconcile roots
    std::vector<CheckpointEntry> kept;
    for (auto& u : updates)
      for (const auto& root : checkpoint_roots_)
        if (u.path.size() > root.size() && u.path.compare(0, root.size(), root) == 0 && u.path[root.size()] == '/') {
          kept.push_back(std::move(u));
          break;
        }
    return kept;
  }

  void enforce_caps() {
    auto r = spool_->enforce_caps(now_ns());
    if (!r) return log::error("spool", "enforcing caps failed", {{"error", r.error()}});
    if (r->dropped_batches) {
      log::warn("spool", "spool cap reached: oldest batches dropped", {{"batches", std::to_string(r->dropped_batches)},
                {"events", std::to_string(r->dropped_events)}});
      if (uploader_) uploader_->kick();
    }
  }

  void report_health() {
    v1::Event e;
    e.set_type("agent.health");
    e.set_time_ns(now_ns());
    auto* h = e.mutable_health();
    h->set_spool_bytes(spool_->bytes());
    h->set_spool_batches(spool_->batch_count());
    h->set_dropped_events(dropped_);
    h->set_config_version(config_version_);
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) == 0) h->set_rss_bytes(rss);
    uv_rusage_t ru{};
    if (uv_getrusage(&ru) == 0) {
      double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      double wall_s = static_cast<double>(uv_hrtime()) / 1e9;
      if (last_health_wall_ > 0 && wall_s > last_health_wall_)
        h->set_cpu_percent(100.0 * (cpu_s - last_health_cpu_) / (wall_s - last_health_wall_));
      last_health_cpu_ = cpu_s;
      last_health_wall_ = wall_s;
    }
    if (watchdog_.shedding()) h->add_shedding("classification");
    h->set_pressure(watchdog_.pressure());
    h->set_cpu_limit_percent(watchdog_.limits().cpu_percent);
    h->set_rss_limit_bytes(watchdog_.limits().rss_bytes);
    const DerivationStats ds = deriver_->take_stats();
    h->set_classified_files(ds.classified_files);
    h->set_classification_skipped(ds.classification_skipped);
    pending_.push_back(std::move(e));
  }

  void shutdown(int signum) {
    if (stopping_) return;
    stopping_ = true;
    log::info("agent", "stopping", {{"signal", std::to_string(signum)}});
    uv_poll_stop(&poll_);
    drain_capture();
    if (device_poll_active_) {
      uv_poll_stop(&device_poll_);
      drain_devices();
      close_handle(&device_poll_);
    }
    for (auto& p : extra_)
      if (p->active) {
        uv_poll_stop(&p->poll);
        drain_extra(*p);
        close_handle(&p->poll);
      }
    deriver_->flush_all(pending_);  // held writes, open bursts, classifications in progress
    flush();
    if (auto s = spool_->mark_clean_shutdown(now_ns()); !s) log::error("agent", "recording shutdown failed", {{"error", s.error()}});
    if (uploader_) uploader_->stop();
    close_handle(&poll_);
    for (auto* t : {&flush_timer_, &heartbeat_timer_, &health_timer_, &cap_timer_, &watchdog_timer_, &batch_timer_}) close_handle(t);
    if (stop_) {
      close_handle(&stop_poll_);
    } else {
      close_handle(&sigterm_);
      close_handle(&sigint_);
    }
  }

  void start_file_poll() {
    uv_poll_init(&loop_, &poll_, source_->pollable_fd());
    poll_.data = this;
    watch_file_poll();
  }

  // Whether the source wakes the poll again. When it cannot, that is not a loss: the queue keeps
  // filling, so the caller keeps draining it on the timer and asks again then.
  bool source_wakes_poll() {
    const Status woken = source_->set_wake_on_activity(true);
    if (woken.ok()) {
      wake_failing_ = false;
      return true;
    }
    if (!wake_failing_) log::warn("capture", "cannot wait for file activity; draining on the timer", {{"error", woken.error()}});
    wake_failing_ = true;
    return false;
  }

  void watch_file_poll() {
    if (!source_wakes_poll()) {
      start_batch_timer();
      return;
    }
    uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
      auto* self = static_cast<Runtime*>(h->data);
      if (status < 0) log::error("capture", "poll failed", {{"error", uv_strerror(status)}});
      else self->on_file_activity();
    });
  }

  // The first record after a quiet spell is drained at once. Then the poll pauses for
  // capture_batch_ms: in a storm each wakeup would otherwise bring a handful of records, and
  // every wakeup costs a context switch here, a /proc check per process, and on the writer's
  // side the kernel's wakeup of this thread (measured in docs/BENCHMARKS.md §7).
  // While a storm lasts the queue is drained on the timer alone: the source's fd leaves the
  // loop's epoll set (uv_poll_stop removes it at once) and the source stops waking it
  // (set_wake_on_activity), as each registered fd costs the writer an epoll callback for every
  // record it queues. Back to the poll once a drain finds nothing.
  void on_file_activity() {
    if (opts_.config.capture_batch_ms == 0 || stopping_) {
      drain_capture();
      return;
    }
    uv_poll_stop(&poll_);
    if (auto s = source_->set_wake_on_activity(false); !s)
      log::debug("capture", "file activity keeps waking the loop during a storm", {{"error", s.error()}});
    drain_capture();
    start_batch_timer();
  }

  void start_batch_timer() {
    uv_timer_start(&batch_timer_, [](uv_timer_t* t) {
      auto* self = static_cast<Runtime*>(t->data);
      if (self->stopping_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&self->poll_))) return;
      if (self->drain_capture() > 0) self->start_batch_timer();
      else self->watch_file_poll();
    }, opts_.config.capture_batch_ms, 0);
  }

  // ------------------------------------------------------------ collection config
  // The collector pushes what to watch and how to classify (agent/collection_config.h). It is
  // applied without a restart: new watch/exclude paths swap the file capture for a new source of
  // the same kind, started before the old one stops (activity in the overlap may be reported
  // twice, none is lost); the new roots are reconciled (baselined when new). The version runs
  // in Hello, agent.health and the ConfigApplied answer; the config is persisted so a restart
  // keeps it.

  const v1::CollectionConfig* collection_config() const { return collection_ ? &*collection_ : nullptr; }

  void load_collection_config_at_start() {
    const std::string path = collection_config_path(opts_.paths.root);
    auto loaded = load_collection_config(path);
    if (!loaded) {
      // Running on the local settings (version 0) makes the collector push the config again.
      log::warn("agent", "ignoring the stored collection config", {{"error", loaded.error()}});
      return;
    }
    if (!*loaded) return;
    auto compiled = compile_collection_config(**loaded);
    if (!compiled) {
      log::warn("agent", "ignoring the stored collection config", {{"path", path}, {"error", compiled.error()}});
      return;
    }
    apply_classification_config(*compiled);
    collection_ = std::move(compiled->config);
    config_version_ = collection_->version();
    log::info("agent", "running the stored collection config", {{"version", std::to_string(config_version_)}});
  }

  // Capture roots: the config's watch_paths when it has any (paths missing on this device are
  // skipped with a warning), else --watch or agent.toml's watch.
  std::vector<std::string> watch_roots_for(const v1::CollectionConfig* config) const {
    const auto& local = opts_.watch.empty() ? opts_.config.watch : opts_.watch;
    std::vector<std::string> roots;
    const bool from_config = config && !config->watch_paths().empty();
    for (const auto& w : effective_watch(config, local)) {
      if (from_config && !std::filesystem::exists(w)) {
        log::warn("agent", "collection config watches a path this device does not have; skipping it", {{"path", w}});
        continue;
      }
      roots.push_back(normalize_root(w));
    }
    return roots;
  }

  std::vector<std::string> capture_excludes_for(const v1::CollectionConfig* config) const {
    auto excludes = effective_excludes(config, opts_.config.exclude);
    excludes.push_back(normalize_root(opts_.paths.root));
    return excludes;
  }

  void wire_collection_config() {
    upload_opts_.config_version = [this] { return config_version_; };
    upload_opts_.on_config = [this](const v1::CollectionConfig& c) { on_collection_config(c); };
  }

  void answer_config(std::uint64_t version, bool ok, const std::string& error) {
    v1::ConfigApplied a;
    a.set_version(version);
    a.set_ok(ok);
    a.set_error(error);
    if (uploader_) uploader_->send_config_applied(a);
  }

  void on_collection_config(const v1::CollectionConfig& config) {
    if (config.version() <= config_version_) {
      answer_config(config_version_, true, "");  // already running it (or something newer)
      return;
    }
    auto compiled = compile_collection_config(config);
    if (!compiled) {
      log::warn("agent", "refusing collection config; keeping the current one",
                {{"version", std::to_string(config.version())}, {"error", compiled.error()}});
      answer_config(config.version(), false, compiled.error());
      return;
    }
    // A later config replaces one still waiting for its capture swap.
    staged_config_.reset();
    const auto* next = &compiled->config;
    const auto next_roots = watch_roots_for(next);
    if (next_roots == roots_ && capture_excludes_for(next) == excludes_) {
      finish_collection_config(std::move(*compiled));
      return;
    }
    if (next->watch_paths_size() > 0 && next_roots.empty()) {
      const std::string why = "none of the config's watch_paths exists on this device";
      log::warn("agent", "refusing collection config; keeping the current one", {{"version", std::to_string(config.version())}, {"error", why}});
      answer_config(config.version(), false, why);
      return;
    }
    staged_config_ = std::move(*compiled);
    schedule_capture_swap();
  }

  // The swap runs from a uv_check callback: the old poll handle's close callback then runs in
  // the same loop iteration (check, then closing handles), before any other I/O callback (a
  // signal, the uploader) can see the handle half-closed.
  void schedule_capture_swap() {
    if (swap_scheduled_) return;
    swap_scheduled_ = true;
    auto* check = new uv_check_t;
    uv_check_init(&loop_, check);
    check->data = this;
    uv_check_start(check, [](uv_check_t* c) {
      auto* self = static_cast<Runtime*>(c->data);
      uv_check_stop(c);
      uv_close(reinterpret_cast<uv_handle_t*>(c), [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
      self->swap_scheduled_ = false;
      self->swap_capture();
    });
  }

  void swap_capture() {
    if (!staged_config_) return;
    CompiledCollectionConfig next = std::move(*staged_config_);
    staged_config_.reset();
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return;  // shutting down
    const std::uint64_t version = next.config.version();
    CaptureSpec spec;
    spec.watch_paths = watch_roots_for(&next.config);
    spec.exclude_paths = capture_excludes_for(&next.config);
    spec.report_reads = reads_tracked_;
    auto fresh = make_file_activity_source();
    if (auto s = fresh->start(spec); !s) {
      log::warn("agent", "refusing collection config: the new capture does not start; keeping the current one",
                {{"version", std::to_string(version)}, {"error", s.error()}});
      answer_config(version, false, "starting file capture: " + s.error());
      return;
    }
    // The new source runs; now retire the old one, keeping what it already captured.
    uv_timer_stop(&batch_timer_);
    uv_poll_stop(&poll_);
    drain_capture();
    retired_source_ = std::move(source_);
    source_ = std::move(fresh);
    roots_ = spec.watch_paths;
    excludes_ = spec.exclude_paths;
    checkpoint_roots_ = reconcile_roots();
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      auto* self = static_cast<Runtime*>(h->data);
      self->retired_source_.reset();  // its kernel marks go with it
      self->start_file_poll();
    });
    log::info("agent", "file capture restarted for the collection config",
              {{"version", std::to_string(version)}, {"watch", roots_.empty() ? std::string("(whole filesystem)") : join(roots_)}});
    reconcile_now();
    finish_collection_config(std::move(next));
  }

  void finish_collection_config(CompiledCollectionConfig next) {
    const std::uint64_t version = next.config.version();
    // A config that runs but is not persisted is still reported applied: after a restart the
    // agent runs its previous version, says so in Hello, and the collector sends this one again.
    if (auto s = save_collection_config(collection_config_path(opts_.paths.root), next.config); !s)
      log::error("agent", "cannot persist the collection config", {{"error", s.error()}});
    apply_classification_config(next);
    collection_ = std::move(next.config);
    config_version_ = version;
    log::info("agent", "collection config applied", {{"version", std::to_string(version)}});
    answer_config(version, true, "");
  }

  // Classification rules, priority paths, scan limits and watchdog limits from the collection
  // config. At start it runs before the deriver exists; start_deriver() then uses what is stored.
  void apply_classification_config(const CompiledCollectionConfig& c) {
    classifier_ = c.classifier;
    derivation_options_ = derivation_options_for(c.config, base_derivation_options());
    // Off by config is status "disabled"; the watchdog's shedding is separate ("skipped_load").
    derivation_options_.classify = c.config.classification_enabled();
    cpu_limit_percent_ = c.config.cpu_limit_percent();
    rss_limit_bytes_ = c.config.rss_limit_bytes();
    for (auto& p : extra_) p->source->set_classifier(classifier_, derivation_options_.scan_limits);
    if (!deriver_) return;
    deriver_->update(derivation_options_, classifier_);
    apply_watchdog_limits();
    deriver_->set_classification_enabled(!watchdog_.shedding());
  }

  // agent.toml's limits, unless the collection config sets its own (0 keeps the local one).
  void apply_watchdog_limits() {
    WatchdogLimits limits;
    limits.cpu_percent = cpu_limit_percent_ > 0 ? cpu_limit_percent_ : opts_.config.cpu_limit_percent;
    limits.rss_bytes = rss_limit_bytes_ > 0 ? rss_limit_bytes_ : opts_.config.rss_limit_mb << 20;
    watchdog_.set_limits(limits);
  }

  std::optional<v1::CollectionConfig> collection_;  // what runs now (nullopt: local settings only)
  std::uint64_t config_version_ = 0;
  std::optional<CompiledCollectionConfig> staged_config_;  // waiting for its capture swap
  bool swap_scheduled_ = false;
  std::unique_ptr<FileActivitySource> retired_source_;     // until the old poll handle is closed
  std::shared_ptr<const Classifier> classifier_;
  // What no collection config changes: the platform's label reader.
  static DerivationOptions base_derivation_options() {
    DerivationOptions o;
    o.read_labels = read_file_labels;
    return o;
  }
  DerivationOptions derivation_options_ = base_derivation_options();
  double cpu_limit_percent_ = 0;
  std::uint64_t rss_limit_bytes_ = 0;

  RuntimeOptions opts_;
  std::unique_ptr<FileActivitySource> source_;
  std::vector<std::unique_ptr<PolledSource>> extra_;  // heap: uv handles must not move
  std::unique_ptr<DeviceActivitySource> devices_;
  std::unique_ptr<ActivityDeriver> deriver_;
  Watchdog watchdog_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Uploader> uploader_;
  UploaderOptions upload_opts_;
  std::vector<std::string> roots_, excludes_, checkpoint_roots_;
  std::vector<v1::Event> pending_, retry_;
  std::uint64_t dropped_ = 0;
  double last_health_cpu_ = 0, last_health_wall_ = 0;
  int exit_code_ = 0;
  uv_loop_t loop_{};
  uv_poll_t poll_{};
  uv_poll_t device_poll_{};
  bool device_poll_active_ = false;
  uv_timer_t flush_timer_{}, heartbeat_timer_{}, health_timer_{}, cap_timer_{}, watchdog_timer_{};
  bool reads_tracked_ = true;  // what the capture and the deriver are doing now
  uv_timer_t batch_timer_{};  // capture_batch_ms: the file poll's pause after a drain
  bool wake_failing_ = false;  // the source could not be told to wake the poll (warned once)
  uv_signal_t sigterm_{}, sigint_{};
  uv_poll_t stop_poll_{};
  bool stopping_ = false;

 public:
  std::unique_ptr<StopSignalSource> stop_;  // set before run(); nullptr: plain uv signals
};

}  // namespace

int run_agent(const RuntimeOptions& options, std::unique_ptr<FileActivitySource> source) {
  // First, before any thread exists: the stop signals are blocked and read from the source, so
  // every thread inherits the mask (docs/SECURITY_SETTINGS.md, agent.tamper).
  auto stop = make_stop_signal_source();
  if (auto s = stop->start({}); !s) {
    log::warn("agent", "stop requests will not name their sender", {{"error", s.error()}});
    stop.reset();
  }
  Runtime rt(options, std::move(source), make_device_activity_source(), make_event_sources(options));
  rt.stop_ = std::move(stop);
  return rt.run();
}

}  // namespace vigil::agent
