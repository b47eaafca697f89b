// IngestServer: the agents' port (7443). Mutual TLS; every frame is validated before it is
// trusted; batches are stored through the BatchWriter and acked only after their commit.
//
// Promises:
// - A connection without a client certificate may only enroll; one with a certificate must
//   belong to a registered, active device, and may only send batches for that device.
// - A bad peer (garbage, oversized frames, zstd bombs, TLS < 1.2, no certificate, silence) is
//   refused with one log line giving the reason; it costs other connections nothing.
// - A batch that fails storage is not acked (the agent resends it); one that is invalid gets a
//   REJECTED ack with the reason.
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <string>

#include "collector/ingest/batch_writer.h"
#include "collector/store/event_store.h"
#include "collector/trust/enrollment.h"
#include "shared/result.h"
#include "shared/tls_session.h"

namespace vigil::collector {

struct IngestOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 7443;
  std::chrono::seconds idle_timeout{120};
  std::size_t max_connections = 10000;
};

struct IngestStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> rejected_batches{0};
};

class IngestServer {
 public:
  IngestServer(boost::asio::io_context& io, std::shared_ptr<const TlsConfig> tls, EventStore& store,
               BatchWriter& writer, Enrollment& enrollment, IngestOptions options);
  Status listen();
  std::uint16_t port() const { return port_; }
  void stop();
  const IngestStats& stats() const { return stats_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  std::shared_ptr<const TlsConfig> tls_;
  EventStore& store_;
  BatchWriter& writer_;
  Enrollment& enrollment_;
  IngestOptions opts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> open_connections_{0};
  IngestStats stats_;
};

}  // namespace vigil::collector
