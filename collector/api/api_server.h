// ApiServer: the HTTPS API (default 127.0.0.1:8443) that vigilctl and the console talk to.
// HTTP/1.1 with keep-alive over a sans-IO TlsSession (server certificate only; callers prove who
// they are with a bearer token). What each route answers lives in ApiHandler.
//
// Promises:
// - Each connection is its own coroutine on its own strand, bounded by an idle deadline: a peer
//   that connects and sends nothing, or stops mid-request, costs other clients nothing and is
//   closed when the deadline passes.
// - Storage work runs on a small worker pool, never on the I/O threads, so one slow query does
//   not stall other clients' requests.
// - Requests are bounded: 16 KiB of headers (431), max_body_bytes of body (413); a malformed
//   request gets 400 and the connection is closed.
// - One debug log line per request (method, path without query, status, ms); warnings for
//   refused tokens and server errors. Tokens and query strings are never logged.
// - Lifetime: the EventStore must outlive every run of the io_context that serves this API;
//   destroy the ApiServer after the io_context has stopped running.
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "collector/api/api_handler.h"
#include "collector/config/collection_configs.h"
#include "collector/policy/policy_store.h"
#include "collector/policy/engine.h"
#include "collector/store/event_store.h"
#include "shared/result.h"
#include "shared/tls_session.h"

namespace vigil::collector {

struct ApiOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8443;
  std::string admin_token_sha256;  // hex SHA-256 of the admin token; empty refuses every token
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::seconds idle_timeout{30};
  std::size_t max_connections = 1024;
};

class ApiServer {
 public:
  // tls: a server configuration (ClientAuth::None). configs: the collection configs to serve
  // (null: /api/v1/collection-config answers 503) and policies (null: the policy routes answer 503)
  // must outlive the server too.
  ApiServer(boost::asio::io_context& io, std::shared_ptr<const TlsConfig> tls, EventStore& store,
            ApiOptions options, CollectionConfigs* configs = nullptr, policy::SqlitePolicyStore* policies = nullptr,
            const policy::PolicyEngine* engine = nullptr);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts accepting; errors read like "bind 127.0.0.1:8443: Address already in use".
  Status listen();
  // The request handler, to give it optional services (set them before listen()).
  ApiHandler& handler();
  // The bound port (useful after listening on port 0).
  std::uint16_t port() const { return port_; }
  // Stops accepting; requests in flight are answered, then their connections close.
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
};

}  // namespace vigil::collector
