#include "agent/uploader.h"

#include <algorithm>

#include "shared/limits.h"
#include "shared/log.h"
#include "shared/schema_version.h"
#include "shared/time_util.h"

namespace vigil::agent {

Uploader::Uploader(uv_loop_t* loop, Spool& spool, UploaderOptions options)
    : loop_(loop), spool_(spool), opts_(std::move(options)), retry_timer_(new uv_timer_t),
      rng_(std::random_device{}()) {
  uv_timer_init(loop_, retry_timer_);
  retry_timer_->data = this;
}

Uploader::~Uploader() {
  stream_.reset();
  uv_timer_stop(retry_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Uploader::start() {
  stopped_ = false;
  connect_now();
}

void Uploader::stop() {
  stopped_ = true;
  uv_timer_stop(retry_timer_);
  if (stream_) stream_->close("agent stopping");
  stream_.reset();
  ready_ = false;
}

bool Uploader::connected() const { return ready_; }

void Uploader::kick() {
  if (ready_) send_more();
}

void Uploader::connect_now() {
  if (stopped_) return;
  ready_ = false;
  in_flight_.clear();
  last_sent_seq_ = 0;
  stats_.connects++;
  stream_ = std::make_unique<UvTlsStream>(
      loop_, opts_.tls,
      UvTlsStream::Callbacks{
          [this] {
            v1::AgentMessage m;
            auto* h = m.mutable_hello();
            h->set_protocol_version(limits::kProtocolVersion);
            h->set_schema_version(kSchemaVersion);
            h->set_hostname(opts_.hostname);
            h->set_os(opts_.os);
            h->set_agent_version(opts_.agent_version);
            h->set_config_version(opts_.config_version ? opts_.config_version() : 0);
            stream_->send_frame(m.SerializeAsString());
          },
          [this](std::string frame) { on_frame(std::move(frame)); },
          [this](const std::string& reason) { schedule_reconnect(reason); }});
  stream_->connect(opts_.host, opts_.port);
}

void Uploader::schedule_reconnect(const std::string& reason) {
  ready_ = false;
  in_flight_.clear();
  if (stopped_) return;
  if (reason != stats_.last_error) log::warn("uploader", "disconnected", {{"reason", reason}});
  stats_.last_error = reason;
  std::uint64_t base = std::min(opts_.max_backoff_ms, opts_.min_backoff_ms << std::min<std::uint64_t>(attempt_, 16));
  attempt_++;
  // Full jitter in [base/2, base]: many agents cut off together do not return together.
  std::uniform_int_distribution<std::uint64_t> dist(base / 2, base);
  std::uint64_t delay = dist(rng_);
  log::debug("uploader", "reconnecting", {{"in_ms", std::to_string(delay)}});
  uv_timer_start(retry_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Uploader*>(t->data);
    // Destroying the failed stream here, outside its own callback.
    self->stream_.reset();
    self->connect_now();
  }, delay, 0);
}

void Uploader::on_frame(std::string frame) {
  v1::CollectorMessage msg;
  if (!msg.ParseFromString(frame)) return stream_->close("collector sent an unreadable frame");
  switch (msg.msg_case()) {
    case v1::CollectorMessage::kHelloAck: {
      const auto& a = msg.hello_ack();
      window_ = std::clamp<std::uint32_t>(a.max_in_flight(), 1, 64);
      ready_ = true;
      attempt_ = 0;
      stream_->set_idle_timeout(120000);
      log::info("uploader", "connected", {{"collector", stream_->peer_name()}, {"device_id", a.device_id()},
                {"collector_highest_seq", std::to_string(a.highest_seq())}});
      stats_.last_error.clear();
      send_more();
      return;
    }
    case v1::CollectorMessage::kAck: {
      const auto& a = msg.ack();
      if (in_flight_.empty() || in_flight_.front() != a.first_seq())
        return stream_->close("ack for a batch not in flight (seq " + std::to_string(a.first_seq()) + ")");
      in_flight_.pop_front();
      if (a.status() == v1::Ack::REJECTED) {
        stats_.batches_rejected++;
        log::error("uploader", "collector rejected a batch; dropping it", {{"first_seq", std::to_string(a.first_seq())},
                   {"last_seq", std::to_string(a.last_seq())}, {"reason", a.error()}});
        v1::Event loss;
        loss.set_type("agent.loss");
        loss.set_time_ns(now_ns());
        auto* l = loss.mutable_loss();
        l->set_first_seq(a.first_seq());
        l->set_last_seq(a.last_seq());
        l->set_events(a.last_seq() - a.first_seq() + 1);
        l->set_batches(1);
        l->set_reason("rejected_by_collector: " + a.error().substr(0, 200));
        std::vector<v1::Event> ev{loss};
        if (auto r = spool_.append(ev); !r) log::error("uploader", "cannot record the loss", {{"error", r.error()}});
      } else {
        stats_.batches_acked++;
        stats_.events_acked += a.last_seq() - a.first_seq() + 1;
      }
      if (auto s = spool_.ack(a.first_seq()); !s) log::error("uploader", "spool ack failed", {{"error", s.error()}});
      send_more();
      return;
    }
    case v1::CollectorMessage::kConfig:
      log::info("uploader", "collection config received", {{"version", std::to_string(msg.config().version())}});
      if (opts_.on_config) opts_.on_config(msg.config());
      return;
    case v1::CollectorMessage::kError:
      return stream_->close("collector refused: " + msg.error().code() + ": " + msg.error().message());
    default:
      return stream_->close("unexpected message from collector");
  }
}

void Uploader::send_config_applied(const v1::ConfigApplied& applied) {
  if (!ready_ || !stream_) return;
  v1::AgentMessage m;
  *m.mutable_config_applied() = applied;
  stream_->send_frame(m.SerializeAsString());
}

void Uploader::send_more() {
  if (!ready_ || !stream_) return;
  while (in_flight_.size() < window_) {
    auto batches = spool_.pending(last_sent_seq_, window_ - in_flight_.size());
    if (!batches) {
      log::error("uploader", "reading the spool failed", {{"error", batches.error()}});
      return;
    }
    if (batches->empty()) return;
    for (auto& b : *batches) {
      v1::AgentMessage m;
      auto* f = m.mutable_batch();
      f->set_first_seq(b.first_seq);
      f->set_last_seq(b.last_seq);
      f->set_event_count(b.event_count);
      f->set_uncompressed_bytes(b.uncompressed_bytes);
      f->set_zstd_payload(std::move(b.zstd_payload));
      stream_->send_frame(m.SerializeAsString());
      if (!stream_ || !ready_) return;
      in_flight_.push_back(b.first_seq);
      last_sent_seq_ = b.last_seq;
    }
  }
}

}  // namespace vigil::agent
