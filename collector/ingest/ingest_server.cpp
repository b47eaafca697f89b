#include "collector/ingest/ingest_server.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "collector/net/tls_connection.h"
#include "shared/batch_codec.h"
#include "shared/framing.h"
#include "shared/limits.h"
#include "shared/log.h"
#include "shared/schema_version.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace asio = boost::asio;
using asio::use_awaitable;

namespace {

// Reads the next whole frame from the connection.
asio::awaitable<Result<std::optional<std::string>>> next_frame(TlsConnection& conn, FrameDecoder& dec) {
  for (;;) {
    auto f = dec.next();
    if (!f) co_return err(f.error());
    if (f->has_value()) co_return std::move(*f);
    auto plain = co_await conn.read_some();
    if (!plain) co_return err(plain.error());
    if (plain->empty()) co_return std::optional<std::string>{};  // peer closed
    dec.feed(*plain);
  }
}

asio::awaitable<Status> send(TlsConnection& conn, const v1::CollectorMessage& msg) {
  co_return co_await conn.write(encode_frame(msg.SerializeAsString()));
}

asio::awaitable<void> send_error(TlsConnection& conn, const std::string& code, const std::string& message) {
  v1::CollectorMessage m;
  m.mutable_error()->set_code(code);
  m.mutable_error()->set_message(message);
  co_await send(conn, m);
}

// Why a connection ended, for the single log line each refused peer gets.
struct Refusal {
  std::string code;
  std::string reason;
};

}  // namespace

IngestServer::IngestServer(asio::io_context& io, std::shared_ptr<const TlsConfig> tls, EventStore& store,
                           BatchWriter& writer, Enrollment& enrollment, IngestOptions options,
                           CollectionConfigs* configs)
    : io_(io), tls_(std::move(tls)), store_(store), writer_(writer), enrollment_(enrollment),
      opts_(std::move(options)), configs_(configs), acceptor_(io) {
  if (configs_) configs_->set_change_listener([this] { hub_.notify_all(); });
}

IngestServer::~IngestServer() {
  if (configs_) configs_->set_change_listener({});
}

void IngestServer::refuse(const std::string& peer, const std::string& code, const std::string& reason) {
  stats_.refused++;
  log::warn("ingest", "connection refused", {{"peer", peer}, {"code", code}, {"reason", reason}});
}

Status IngestServer::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts_.address, ec);
  if (ec) return err("ingest: bad listen address '" + opts_.address + "'");
  tcp::endpoint ep(addr, opts_.port);
  std::string where = opts_.address + ":" + std::to_string(opts_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return err("ingest: bind " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  log::info("ingest", "listening for agents", {{"address", opts_.address + ":" + std::to_string(port_)}});
  return {};
}

void IngestServer::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> IngestServer::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::make_strand(io_), asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off briefly rather than spin.
      log::warn("ingest", "accept failed", {{"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(use_awaitable);
      continue;
    }
    if (open_connections_.load() >= opts_.max_connections) {
      stats_.refused++;
      log::warn("ingest", "connection refused: too many connections", {{"limit", std::to_string(opts_.max_connections)}});
      continue;  // socket closes on scope exit
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> IngestServer::serve(tcp::socket socket) {
  open_connections_++;
  stats_.connections++;
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { n--; }
  } count{open_connections_};

  // Handshakes get a short deadline; an enrolled agent may then idle up to idle_timeout.
  TlsConnection conn(std::move(socket), tls_, std::chrono::seconds(15));
  conn.start_watchdog();
  const std::string peer = conn.peer();
  auto refuse = [&](const Refusal& r) { this->refuse(peer, r.code, r.reason); };

  if (auto hs = co_await conn.handshake(); !hs) {
    if (conn.bytes_received() == 0) {
      log::debug("ingest", "peer left before the TLS handshake", {{"peer", peer}});
      co_return;
    }
    refuse({"tls", hs.error()});
    co_return;
  }
  conn.set_idle_timeout(opts_.idle_timeout);
  FrameDecoder decoder(limits::kMaxFrameBytes);

  auto first = co_await next_frame(conn, decoder);
  if (!first) {
    co_await send_error(conn, "bad_frame", first.error());
    refuse({"bad_frame", first.error()});
    co_return co_await conn.close();
  }
  if (!first->has_value()) co_return co_await conn.close();
  v1::AgentMessage msg;
  if (!msg.ParseFromString(**first)) {
    co_await send_error(conn, "bad_frame", "frame is not an AgentMessage");
    refuse({"bad_frame", "first frame is not an AgentMessage"});
    co_return co_await conn.close();
  }

  // No certificate: enrollment is the only thing such a peer may do.
  if (!conn.tls().peer_has_certificate()) {
    if (msg.msg_case() != v1::AgentMessage::kEnroll) {
      co_await send_error(conn, "unauthenticated", "a client certificate is required (enroll first)");
      refuse({"unauthenticated", "no client certificate"});
      co_return co_await conn.close();
    }
    v1::CollectorMessage reply;
    *reply.mutable_enroll() = enrollment_.enroll(msg.enroll(), peer);
    co_await send(conn, reply);
    co_return co_await conn.close();
  }

  const std::string device_id = conn.tls().peer_common_name();
  auto device = store_.find_device(device_id);
  if (!device || !device->has_value() || (*device)->status != "active") {
    std::string why = !device ? "registry lookup failed: " + device.error()
                      : !device->has_value() ? "certificate of unknown device " + device_id
                                             : "device " + device_id + " is " + (*device)->status;
    co_await send_error(conn, "unknown_device", why);
    refuse({"unknown_device", why});
    co_return co_await conn.close();
  }
  if (msg.msg_case() != v1::AgentMessage::kHello) {
    co_await send_error(conn, "protocol", "expected Hello as the first message");
    refuse({"protocol", "first message was not Hello"});
    co_return co_await conn.close();
  }
  const auto& hello = msg.hello();
  (void)store_.device_hello(device_id, hello.hostname().substr(0, 255), hello.os().substr(0, 512),
                            hello.agent_version().substr(0, 64), now_ns());
  if (configs_)
    if (auto s = configs_->record_running(device_id, hello.config_version(), now_ns()); !s)
      log::warn("ingest", "cannot record the device's config version", {{"device_id", device_id}, {"error", s.error()}});
  {
    v1::CollectorMessage reply;
    auto* ack = reply.mutable_hello_ack();
    ack->set_protocol_version(limits::kProtocolVersion);
    ack->set_device_id(device_id);
    ack->set_max_in_flight(limits::kMaxInFlight);
    ack->set_max_frame_bytes(limits::kMaxFrameBytes);
    ack->set_max_batch_events(limits::kMaxBatchEvents);
    ack->set_highest_seq((*device)->highest_seq);
    if (!co_await send(conn, reply)) co_return;
  }
  log::debug("ingest", "agent connected", {{"peer", peer}, {"device_id", device_id}, {"agent_version", hello.agent_version()}});

  if (configs_ && hello.protocol_version() >= limits::kConfigPushProtocolVersion) {
    // Both run on this connection's strand; whichever ends first (the batch loop, when the peer
    // leaves or misbehaves) cancels the other.
    using namespace asio::experimental::awaitable_operators;
    co_await (batch_loop(conn, decoder, device_id, peer) || push_configs(conn, device_id, hello.config_version()));
  } else {
    co_await batch_loop(conn, decoder, device_id, peer);
  }
  co_await conn.close();
}

}  // namespace vigil::collector

namespace vigil::collector {

asio::awaitable<void> IngestServer::batch_loop(TlsConnection& conn, FrameDecoder& decoder, const std::string& device_id,
                                               const std::string& peer) {
  auto refuse = [&](const Refusal& r) { this->refuse(peer, r.code, r.reason); };
  const BatchLimits batch_limits{limits::kMaxDecompressedBytes, limits::kMaxBatchEvents};
  for (;;) {
    auto frame = co_await next_frame(conn, decoder);
    if (!frame) {
      co_await send_error(conn, "bad_frame", frame.error());
      refuse({"bad_frame", frame.error()});
      break;
    }
    if (!frame->has_value()) break;
    v1::AgentMessage m;
    if (m.ParseFromString(**frame) && m.msg_case() == v1::AgentMessage::kConfigApplied) {
      record_config_applied(device_id, m.config_applied());
      continue;
    }
    if (m.msg_case() != v1::AgentMessage::kBatch) {
      co_await send_error(conn, "bad_frame", "expected a batch frame");
      refuse({"bad_frame", "frame is not a batch"});
      break;
    }
    auto& bf = *m.mutable_batch();
    v1::CollectorMessage reply;
    auto* ack = reply.mutable_ack();
    ack->set_first_seq(bf.first_seq());
    ack->set_last_seq(bf.last_seq());

    auto decoded = decode_batch(bf.zstd_payload(), batch_limits);
    std::string invalid;
    if (!decoded) invalid = decoded.error();
    else if (decoded->first_seq() != bf.first_seq() || decoded->last_seq() != bf.last_seq())
      invalid = "frame seq range differs from the batch's";
    else if (!decoded->device_id().empty() && decoded->device_id() != device_id)
      invalid = "batch names device " + decoded->device_id() + ", certificate is " + device_id;
    if (!invalid.empty()) {
      stats_.rejected_batches++;
      log::warn("ingest", "batch rejected", {{"peer", peer}, {"device_id", device_id},
                {"first_seq", std::to_string(bf.first_seq())}, {"reason", invalid}});
      ack->set_status(v1::Ack::REJECTED);
      ack->set_error(invalid);
      if (!co_await send(conn, reply)) break;
      continue;
    }
    auto shared = std::make_shared<const v1::EventBatch>(std::move(decoded).value());
    auto n_events = shared->events_size();
    auto outcome = co_await writer_.async_store(device_id, shared, std::move(*bf.mutable_zstd_payload()), use_awaitable);
    if (!outcome) {
      // Not stored, not acked: the agent will resend after reconnecting.
      log::error("ingest", "batch not stored", {{"device_id", device_id}, {"error", outcome.error()}});
      co_await send_error(conn, "unavailable", "collector could not store the batch; retry");
      break;
    }
    switch (outcome->outcome) {
      case AppendOutcome::Stored:
        stats_.batches++;
        stats_.events += static_cast<std::uint64_t>(n_events);
        ack->set_status(v1::Ack::OK);
        break;
      case AppendOutcome::Duplicate: ack->set_status(v1::Ack::DUPLICATE); break;
      case AppendOutcome::Rejected:
        stats_.rejected_batches++;
        log::warn("ingest", "batch rejected", {{"device_id", device_id}, {"first_seq", std::to_string(bf.first_seq())}, {"reason", outcome->reason}});
        ack->set_status(v1::Ack::REJECTED);
        ack->set_error(outcome->reason);
        break;
    }
    if (!co_await send(conn, reply)) break;
  }
}

void IngestServer::record_config_applied(const std::string& device_id, const v1::ConfigApplied& applied) {
  if (!configs_) return;
  if (applied.ok())
    log::info("ingest", "agent applied collection config", {{"device_id", device_id}, {"version", std::to_string(applied.version())}});
  else
    log::warn("ingest", "agent refused collection config", {{"device_id", device_id},
              {"version", std::to_string(applied.version())}, {"error", applied.error().substr(0, 300)}});
  if (auto s = configs_->record_applied(device_id, applied, now_ns()); !s)
    log::warn("ingest", "cannot record the device's config answer", {{"device_id", device_id}, {"error", s.error()}});
}

asio::awaitable<void> IngestServer::push_configs(TlsConnection& conn, const std::string& device_id,
                                                 std::uint64_t running_version) {
  auto waiter = hub_.subscribe(co_await asio::this_coro::executor);
  std::uint64_t sent = running_version;
  bool broken = false;  // a write failed: the batch loop will notice and end the connection
  bool check = true;    // the first look happens before any wait
  for (;;) {
    if (check || waiter->changed.exchange(false)) {
      check = false;
      if (broken) continue;
      auto cfg = configs_->effective(device_id);
      if (!cfg) {
        log::warn("ingest", "cannot read the collection config", {{"device_id", device_id}, {"error", cfg.error()}});
      } else if (cfg->has_value() && (*cfg)->version() > sent) {
        v1::CollectorMessage m;
        *m.mutable_config() = std::move(**cfg);
        const std::uint64_t version = m.config().version();
        if (!co_await send(conn, m)) {
          broken = true;
        } else {
          sent = version;
          log::debug("ingest", "collection config sent", {{"device_id", device_id}, {"version", std::to_string(version)}});
        }
      }
      continue;
    }
    boost::system::error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
  }
}

}  // namespace vigil::collector
