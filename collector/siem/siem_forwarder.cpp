#include "collector/siem/siem_forwarder.h"

#include "collector/siem/siem_connection.h"
#include "shared/log.h"

namespace vigil::collector::siem {

Result<std::unique_ptr<SiemForwarder>> SiemForwarder::create(SiemOutbox& outbox, SiemSettings settings, EventStore* events) {
  if (settings.include_events && events == nullptr) return err("siem: include_events needs the event store");
  TlsOptions o;
  o.role = TlsRole::Client;
  o.ca_pem = settings.ca_pem;
  o.server_name = settings.server_name;
  o.client_auth = ClientAuth::None;
  auto tls = TlsConfig::create(o);
  if (!tls) return err("siem: TLS setup: " + tls.error());
  return std::unique_ptr<SiemForwarder>(new SiemForwarder(outbox, std::move(settings), events, *tls));
}

SiemForwarder::SiemForwarder(SiemOutbox& outbox, SiemSettings settings, EventStore* events,
                             std::shared_ptr<const TlsConfig> tls)
    : outbox_(outbox), settings_(std::move(settings)), events_(events), tls_(std::move(tls)) {}

SiemForwarder::~SiemForwarder() { stop(); }

void SiemForwarder::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void SiemForwarder::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SiemForwarder::notify() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

Status SiemForwarder::on_alert(const policy::Alert& alert) {
  auto seq = outbox_.push(alert_item(alert, settings_.format));
  if (!seq) return err("siem outbox: " + seq.error());
  notify();
  return {};
}

bool SiemForwarder::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_ || woken_; });
  woken_ = false;
  return !stop_;
}

Status SiemForwarder::queue_new_events() {
  // Events stay in the EventStore until queued, so there is no need to copy them while the SIEM
  // is away: only queue more when the outbox is nearly drained (memory and disk stay bounded).
  auto waiting = outbox_.pending(settings_.batch);
  if (!waiting) return err(waiting.error());
  if (waiting->size() >= settings_.batch) return {};
  auto at = outbox_.cursor("events");
  if (!at) return err(at.error());
  auto batches = events_->batches_after(*at, 16);
  if (!batches) return err("reading events for the SIEM: " + batches.error());
  for (const auto& b : *batches) {
    std::vector<OutboxItem> items;
    items.reserve(b.events.size());
    for (const auto& e : b.events) items.push_back(event_item(e, settings_.format));
    // The items and the cursor past their batch commit together: each event is queued once.
    if (auto s = outbox_.push_all(items, "events", b.position); !s) return err("siem outbox: " + s.error());
  }
  return {};
}

void SiemForwarder::run() {
  std::unique_ptr<SiemConnection> conn;
  auto backoff = settings_.backoff_min;
  std::string last_complaint;
  const std::string where = settings_.host + ":" + std::to_string(settings_.port);
  auto complain = [&](const std::string& what) {
    // One line per distinct problem, not one per retry.
    if (what != last_complaint) log::warn("siem", what, {{"receiver", where}});
    last_complaint = what;
  };
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
    if (settings_.include_events) {
      if (auto s = queue_new_events(); !s) complain(s.error());
    }
    if (!conn) {
      auto c = SiemConnection::connect(settings_.host, settings_.port, tls_, settings_.io_timeout);
      if (!c) {
        complain(c.error());
        if (!wait(backoff)) break;
        backoff = std::min(backoff * 2, settings_.backoff_max);
        continue;
      }
      conn = std::move(*c);
      connected_ = true;
      backoff = settings_.backoff_min;
      if (!last_complaint.empty()) log::info("siem", "connected", {{"receiver", where}});
      last_complaint.clear();
    }
    auto items = outbox_.pending(settings_.batch);
    if (!items) {
      complain("reading the outbox: " + items.error());
      if (!wait(backoff)) break;
      continue;
    }
    if (items->empty()) {
      if (conn->peer_gone()) {
        complain("the receiver closed the connection");
        conn.reset();
        connected_ = false;
        continue;
      }
      if (!wait(std::chrono::milliseconds(1000))) break;
      continue;
    }
    // A receiver that has gone away still lets the first writes through (until its RST), so
    // check before writing, and move the cursor only on the receiver's acknowledgement.
    Status s;
    if (conn->peer_gone()) s = err("the receiver closed the connection");
    std::string bytes;
    for (const auto& it : *items) bytes += octet_frame(syslog_message(it, settings_.identity));
    if (s) s = conn->send(bytes, settings_.io_timeout);
    if (s) s = conn->delivered(settings_.io_timeout);
    if (s) s = outbox_.advance(items->back().seq);
    if (!s) {
      complain("sending: " + s.error() + " (items from seq " + std::to_string(items->front().seq) + " are sent again)");
      conn.reset();
      connected_ = false;
      if (!wait(backoff)) break;
      backoff = std::min(backoff * 2, settings_.backoff_max);
    }
  }
  conn.reset();
  connected_ = false;
}

}  // namespace vigil::collector::siem
