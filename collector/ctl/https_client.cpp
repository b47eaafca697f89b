#include "collector/ctl/https_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

namespace vigil::ctl {

namespace http = boost::beast::http;

namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

}  // namespace

// ---------------------------------------------------------------- URL

std::string ServerUrl::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

Result<ServerUrl> parse_server_url(std::string_view url) {
  const std::string text(url);
  constexpr std::string_view scheme = "https://";
  if (url.substr(0, scheme.size()) != scheme) {
    if (url.find("://") != std::string_view::npos)
      return err("server URL '" + text + "' must use https:// (the API only speaks HTTPS)");
    return err("server URL '" + text + "' must look like https://HOST[:PORT]");
  }
  std::string_view rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return err("server URL '" + text + "' must not have a path (use https://HOST[:PORT])");
    rest = rest.substr(0, slash);
  }
  ServerUrl out;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return err("server URL '" + text + "': unterminated [IPv6] host");
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return err("server URL '" + text + "': expected ':' after ]");
      port_text = rest.substr(1);
      if (port_text.empty()) return err("server URL '" + text + "': empty port");
    }
  } else {
    auto colon = rest.rfind(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return err("server URL '" + text + "': empty port");
    }
  }
  if (out.host.empty()) return err("server URL '" + text + "' has no host");
  if (out.host.find('@') != std::string::npos) return err("server URL '" + text + "' must not carry credentials");
  if (!port_text.empty()) {
    unsigned long p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || p > 65535) return err("server URL '" + text + "': bad port '" + std::string(port_text) + "'");
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return err("server URL '" + text + "': port must be 1..65535");
    out.port = static_cast<std::uint16_t>(p);
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ---------------------------------------------------------------- fd

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(std::exchange(o.fd_, -1));
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

// ---------------------------------------------------------------- client

Result<HttpsClient> HttpsClient::create(ServerUrl server, const std::string& ca_pem, HttpsClientOptions options) {
  TlsOptions o;
  o.role = TlsRole::Client;
  o.ca_pem = ca_pem;
  o.server_name = server.host;
  auto config = TlsConfig::create(o);
  if (!config) return err("TLS setup: " + config.error());
  return HttpsClient(std::move(server), std::move(*config), options);
}

HttpsClient::HttpsClient(ServerUrl server, std::shared_ptr<const TlsConfig> config, HttpsClientOptions options)
    : server_(std::move(server)), config_(std::move(config)), options_(options) {}

HttpsClient::HttpsClient(HttpsClient&&) noexcept = default;
HttpsClient& HttpsClient::operator=(HttpsClient&&) noexcept = default;
HttpsClient::~HttpsClient() { disconnect(); }

void HttpsClient::disconnect() {
  if (fd_ && tls_ && tls_->state() == TlsSession::State::Open) {
    tls_->close();
    (void)flush_tls();  // best effort close_notify
  }
  tls_.reset();
  fd_.reset();
}

Status HttpsClient::connect() {
  disconnect();
  const std::string where = server_.authority();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(server_.port);
  if (int rc = ::getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return err("cannot resolve " + server_.host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);

  std::string last_error = "no address";
  for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) {
      last_error = errno_text(errno);
      continue;
    }
    int rc = ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
      last_error = errno_text(errno);
      continue;
    }
    if (rc != 0) {
      pollfd p{fd.get(), POLLOUT, 0};
      int n;
      do n = ::poll(&p, 1, static_cast<int>(options_.connect_timeout.count()));
      while (n < 0 && errno == EINTR);
      if (n == 0) {
        last_error = "timed out after " + seconds_text(options_.connect_timeout);
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (n < 0) so_error = errno;
      else if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
      if (so_error != 0) {
        last_error = errno_text(so_error);
        continue;
      }
    }
    // Blocking from here on, with per-call timeouts.
    int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    timeval tv = to_timeval(options_.io_timeout);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = std::move(fd);
    break;
  }
  if (!fd_) return err("cannot connect to " + where + ": " + last_error);
  ++connections_opened_;

  tls_ = std::make_unique<TlsSession>(config_);
  for (;;) {
    auto state = tls_->handshake();
    if (state == TlsSession::State::Failed) {
      std::string why = tls_->error();
      constexpr std::string_view kPrefix = "TLS handshake failed: ";  // already said below
      if (std::string_view(why).substr(0, kPrefix.size()) == kPrefix) why.erase(0, kPrefix.size());
      (void)flush_tls();  // let the server know why (alert)
      disconnect();
      return err("TLS handshake with " + where + " failed: " + why);
    }
    if (auto s = flush_tls(); !s) {
      disconnect();
      return err("TLS handshake with " + where + " failed: " + s.error());
    }
    if (state == TlsSession::State::Open) return {};
    if (state == TlsSession::State::Closed) {
      disconnect();
      return err("TLS handshake with " + where + " failed: the server closed the session");
    }
    char buf[16384];
    ssize_t n;
    do n = ::recv(fd_.get(), buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      std::string why = n == 0 ? "the server closed the connection"
                        : (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out after " + seconds_text(options_.io_timeout)
                                                                    : errno_text(errno);
      disconnect();
      return err("TLS handshake with " + where + " failed: " + why);
    }
    tls_->feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

Status HttpsClient::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return err("timed out after " + seconds_text(options_.io_timeout));
      return err(errno_text(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status HttpsClient::flush_tls() {
  while (tls_ && tls_->has_output()) {
    std::string out = tls_->take_output();
    if (auto s = send_all(out); !s) return s;
  }
  return {};
}

Result<std::string> HttpsClient::read_plain() {
  for (;;) {
    auto plain = tls_->read();
    if (!plain) return err("TLS: " + plain.error());
    if (!plain->empty()) return std::move(*plain);
    if (tls_->state() == TlsSession::State::Closed) return std::string{};
    if (auto s = flush_tls(); !s) return err(s.error());
    char buf[32768];
    ssize_t n;
    do n = ::recv(fd_.get(), buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0) return std::string{};
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return err("no answer within " + seconds_text(options_.io_timeout));
      return err(errno_text(errno));
    }
    tls_->feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

Result<HttpsResponse> HttpsClient::exchange(const std::string& wire, bool head, bool& nothing_received) {
  const std::string where = server_.authority();
  nothing_received = true;
  if (auto s = tls_->write(wire); !s) return err("sending to " + where + ": " + s.error());
  if (auto s = flush_tls(); !s) return err("sending to " + where + ": " + s.error());

  std::optional<http::response_parser<http::string_body>> parser;
  auto fresh_parser = [&] {
    parser.emplace();
    parser->body_limit(options_.max_response_bytes);
    parser->eager(true);
    if (head) parser->skip(true);
  };
  fresh_parser();
  std::string pending;
  for (;;) {
    if (!pending.empty()) {
      boost::beast::error_code ec;
      std::size_t used = parser->put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec && ec != http::error::need_more) return err("bad HTTP response from " + where + ": " + ec.message());
      if (parser->is_done()) {
        if (parser->get().result_int() / 100 != 1) break;
        fresh_parser();  // a 1xx interim response: the real one follows
        continue;
      }
      if (used > 0 && !pending.empty()) continue;
    }
    auto got = read_plain();
    if (!got) return err("reading from " + where + ": " + got.error());
    if (got->empty()) {
      boost::beast::error_code ec;
      if (parser->got_some()) parser->put_eof(ec);
      if (parser->got_some() && !ec && parser->is_done()) break;
      return err("reading from " + where + ": the server closed the connection before a complete response");
    }
    nothing_received = false;
    pending += *got;
  }
  auto& msg = parser->get();
  HttpsResponse out;
  out.status = msg.result_int();
  auto ct = msg.find(http::field::content_type);
  if (ct != msg.end()) out.content_type = std::string(ct->value());
  const bool keep = msg.keep_alive();
  out.body = std::move(msg.body());
  if (!keep || !pending.empty()) disconnect();
  return out;
}

Result<HttpsResponse> HttpsClient::request(std::string_view method, std::string_view target, const HttpHeaders& headers,
                                           std::string_view body) {
  http::request<http::string_body> req;
  req.method_string(boost::beast::string_view(method.data(), method.size()));
  req.target(boost::beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, server_.authority());
  req.set(http::field::user_agent, std::string("vigilctl/") + VIGIL_VERSION);
  req.set(http::field::accept, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::string(body);
  if (!body.empty() && req.find(http::field::content_type) == req.end())
    req.set(http::field::content_type, "application/json");
  req.prepare_payload();
  std::ostringstream os;
  os << req;
  const std::string wire = std::move(os).str();
  const bool head = method == "HEAD";

  const bool reused = fd_ && tls_ && tls_->state() == TlsSession::State::Open;
  if (!reused) {
    if (auto s = connect(); !s) return err(s.error());
  }
  bool nothing_received = true;
  auto res = exchange(wire, head, nothing_received);
  if (!res && reused && nothing_received) {
    // The server closed the idle connection between our requests; try once on a fresh one.
    if (auto s = connect(); !s) return err(s.error());
    res = exchange(wire, head, nothing_received);
  }
  if (!res) disconnect();
  return res;
}

}  // namespace vigil::ctl
