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
// - Collection config (when given CollectionConfigs): after HelloAck an agent whose Hello reports
//   a config version below what it must run is sent that config; whenever a config changes,
//   every connected agent is sent its new effective config within moments (a push coroutine per
//   connection, woken by ConfigPushHub). The agent's ConfigApplied answers are recorded per
//   device; its Hello's version is recorded as what it runs. Only agents whose Hello says
//   protocol_version >= limits::kConfigPushProtocolVersion are sent configs (older ones would
//   drop the connection on the unknown message).
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <string>

#include "collector/config/collection_configs.h"
#include "collector/ingest/batch_writer.h"
#include "collector/ingest/config_push.h"
#include "collector/net/tls_connection.h"
#include "collector/store/event_store.h"
#include "collector/trust/enrollment.h"
#include "shared/framing.h"
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
  // configs: null serves no collection config; else it must outlive the server.
  IngestServer(boost::asio::io_context& io, std::shared_ptr<const TlsConfig> tls, EventStore& store,
               BatchWriter& writer, Enrollment& enrollment, IngestOptions options,
               CollectionConfigs* configs = nullptr);
  ~IngestServer();
  Status listen();
  std::uint16_t port() const { return port_; }
  void stop();
  const IngestStats& stats() const { return stats_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  // After HelloAck: batches in, acks out, ConfigApplied recorded; returns when the peer is done.
  boost::asio::awaitable<void> batch_loop(TlsConnection& conn, FrameDecoder& decoder,
                                          const std::string& device_id, const std::string& peer);
  // Sends the device its effective collection config when it is above what the device runs,
  // now and after each change; runs until cancelled.
  boost::asio::awaitable<void> push_configs(TlsConnection& conn, const std::string& device_id,
                                            std::uint64_t running_version);
  void record_config_applied(const std::string& device_id, const v1::ConfigApplied& applied);
  void refuse(const std::string& peer, const std::string& code, const std::string& reason);

  boost::asio::io_context& io_;
  std::shared_ptr<const TlsConfig> tls_;
  EventStore& store_;
  BatchWriter& writer_;
  Enrollment& enrollment_;
  IngestOptions opts_;
  CollectionConfigs* configs_;
  ConfigPushHub hub_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> open_connections_{0};
  IngestStats stats_;
};

}  // namespace vigil::collector
