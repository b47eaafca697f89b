// SiemForwarder: streams the outbox to the SIEM over TLS syslog, reconnecting with backoff,
// and queues alerts (and, with include_events, stored events) into the outbox (docs/SIEM.md).
//
// Promises:
// - Nothing is lost on the collector's side: an alert is committed to the outbox before
//   on_alert() returns; the sent cursor moves past an item only after the receiver's TCP stack
//   acknowledged its bytes; a restart resumes from the cursor.
// - Delivery is at-least-once: items written on a connection that broke before they were
//   acknowledged are sent again (same seq in the structured data, so duplicates can be dropped).
// - Reconnects back off exponentially from 0.5 s to 30 s; a SIEM that is down never blocks the
//   engine or ingest (on_alert() only writes to the local outbox).
// - One background thread; start()/stop() are idempotent; the destructor stops it.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector/siem/siem_outbox.h"
#include "collector/siem/syslog_format.h"
#include "collector/store/event_store.h"
#include "shared/tls_session.h"

namespace vigil::collector::siem {

struct SiemSettings {
  std::string host;
  std::uint16_t port = 6514;
  std::string ca_pem;                 // the CA that issued the receiver's certificate
  std::string server_name;            // the name its certificate must carry
  SiemFormat format = SiemFormat::Json;
  bool include_events = false;
  SyslogIdentity identity;
  std::chrono::milliseconds backoff_min{500}, backoff_max{30000};
  std::chrono::milliseconds io_timeout{10000};
  std::size_t batch = 256;            // items per write
};

class SiemForwarder {
 public:
  // events: read after the outbox's "events" cursor when include_events (may be null otherwise).
  static Result<std::unique_ptr<SiemForwarder>> create(SiemOutbox& outbox, SiemSettings settings, EventStore* events = nullptr);
  ~SiemForwarder();

  void start();
  void stop();
  // The engine's listener: formats the alert and commits it to the outbox, then wakes the sender.
  Status on_alert(const policy::Alert& alert);
  // Wakes the sender (new events were stored).
  void notify();

  bool connected() const { return connected_.load(); }

 private:
  SiemForwarder(SiemOutbox& outbox, SiemSettings settings, EventStore* events, std::shared_ptr<const TlsConfig> tls);
  void run();
  Status queue_new_events();
  bool wait(std::chrono::milliseconds d);  // false when stopping

  SiemOutbox& outbox_;
  SiemSettings settings_;
  EventStore* events_;
  std::shared_ptr<const TlsConfig> tls_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, woken_ = false;
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace vigil::collector::siem
