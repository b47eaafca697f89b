// HttpsClient: vigilctl's blocking HTTPS/1.1 client for the collector API. A POSIX TCP socket
// (connect and I/O bounded by timeouts) carries a sans-IO TlsSession that trusts only the
// collector's CA and checks the server name; Beast parses the responses.
//
// Promises:
// - Errors are values whose message says what failed and where, e.g.
//   "cannot connect to 127.0.0.1:8443: Connection refused" or
//   "TLS handshake with 127.0.0.1:8443 failed: <reason>". HTTP error statuses are not errors: the
//   caller gets the status and body.
// - Keep-alive: one connection serves consecutive requests until the server closes it; a
//   request on a reused connection that the server had already closed is retried once on a new
//   connection (nothing was received, so nothing ran twice as far as the client can tell).
// - One owner: the socket is closed with the client (RAII); not thread-safe.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/result.h"
#include "shared/tls_session.h"

namespace vigil::ctl {

// https://HOST[:PORT][/]; the port defaults to 8443 (the API's default).
struct ServerUrl {
  std::string host;           // without brackets for IPv6 literals
  std::uint16_t port = 8443;
  std::string authority() const;  // host:port, bracketed for IPv6, for messages and Host:
};

Result<ServerUrl> parse_server_url(std::string_view url);

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct HttpsResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

struct HttpsClientOptions {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds io_timeout{120000};      // any single send or receive
  std::size_t max_response_bytes = std::size_t{1} << 30;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpsClient {
 public:
  // ca_pem: the collector's CA, the one trust anchor; the server certificate must name url.host.
  static Result<HttpsClient> create(ServerUrl server, const std::string& ca_pem, HttpsClientOptions options = {});

  HttpsClient(HttpsClient&&) noexcept;
  HttpsClient& operator=(HttpsClient&&) noexcept;
  ~HttpsClient();

  // target: origin-form ("/api/v1/events?type=file.create"), already percent-encoded.
  Result<HttpsResponse> request(std::string_view method, std::string_view target, const HttpHeaders& headers = {},
                                std::string_view body = {});

  // Connections opened so far (tests check keep-alive with it).
  std::size_t connections_opened() const { return connections_opened_; }
  const ServerUrl& server() const { return server_; }

 private:
  HttpsClient(ServerUrl server, std::shared_ptr<const TlsConfig> config, HttpsClientOptions options);

  Status connect();
  void disconnect();
  Status send_all(std::string_view bytes);
  Status flush_tls();
  Result<std::string> read_plain();   // "" at end of stream
  Result<HttpsResponse> exchange(const std::string& wire, bool head, bool& nothing_received);

  ServerUrl server_;
  std::shared_ptr<const TlsConfig> config_;
  HttpsClientOptions options_;
  UniqueFd fd_;
  std::unique_ptr<TlsSession> tls_;
  std::size_t connections_opened_ = 0;
};

// Percent-encodes a query component (RFC 3986 unreserved characters pass through).
std::string url_encode(std::string_view text);

}  // namespace vigil::ctl
