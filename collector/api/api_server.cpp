#include "collector/api/api_server.h"

#include <atomic>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <sstream>

#include "collector/api/api_handler.h"
#include "collector/api/query_params.h"
#include "collector/net/tls_connection.h"
#include "shared/log.h"

namespace vigil::collector {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::use_awaitable;

namespace {

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kStorageWorkers = 2;
// After an error response the rest of the request is read and dropped for a moment before the
// socket closes, so the client sees the response instead of a reset.
constexpr std::size_t kMaxDrainBytes = 4u << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);

}  // namespace

struct ApiServer::State {
  State(asio::io_context& io, std::shared_ptr<const TlsConfig> tls_config, EventStore& store, ApiOptions options,
        CollectionConfigs* configs, policy::SqlitePolicyStore* policies, const policy::PolicyEngine* engine)
      : io(io),
        tls(std::move(tls_config)),
        opts(std::move(options)),
        handler(store, opts.admin_token_sha256, configs, policies, engine),
        acceptor(asio::make_strand(io)),
        pool(kStorageWorkers) {}

  asio::io_context& io;
  std::shared_ptr<const TlsConfig> tls;
  ApiOptions opts;
  ApiHandler handler;
  tcp::acceptor acceptor;   // used only on its own strand once accepting
  asio::thread_pool pool;   // storage jobs
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open_connections{0};
};

namespace {

using State = ApiServer::State;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// Runs a storage job on the worker pool and resumes on the caller's strand.
asio::awaitable<HttpResponse> run_storage_job(State& st, std::function<HttpResponse()> job) {
  // The job lives in this frame and the pool coroutine only borrows it: a capturing coroutine
  // lambda would keep its captures in the closure, not in the coroutine frame.
  auto run = [](std::function<HttpResponse()>* j) -> asio::awaitable<HttpResponse> {
    HttpResponse r;
    try {
      r = (*j)();
    } catch (const std::exception& e) {
      r = error_response(http::status::internal_server_error, std::string("internal error: ") + e.what());
    }
    co_return r;
  };
  HttpResponse res = co_await asio::co_spawn(st.pool.get_executor(), run(&job), use_awaitable);
  co_return res;
}

std::string serialize_header(const HttpResponse& res) {
  std::ostringstream os;
  os << res.base();
  return std::move(os).str();
}

// The message of an {"error": "..."} body, for the log line.
std::string error_text(const HttpResponse& res) {
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body(), ec);
  if (!ec && v.is_object())
    if (auto* e = v.as_object().if_contains("error"); e && e->is_string()) return std::string(e->as_string());
  return res.body().substr(0, 200);
}

void log_request(const std::string& peer, std::string_view method, std::string_view path, const HttpResponse& res,
                 std::chrono::steady_clock::time_point started) {
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  char ms_text[32];
  std::snprintf(ms_text, sizeof ms_text, "%.1f", ms);
  const int status = res.result_int();
  if (status >= 500 || status == 401 || status == 403) {
    log::warn("api", status >= 500 ? "request failed" : "request refused",
              {{"peer", peer}, {"method", std::string(method)}, {"path", std::string(path)},
               {"status", std::to_string(status)}, {"ms", ms_text}, {"error", error_text(res)}});
  } else {
    log::debug("api", "request",
               {{"peer", peer}, {"method", std::string(method)}, {"path", std::string(path)},
                {"status", std::to_string(status)}, {"ms", ms_text}});
  }
}

// Reads and discards what the client is still sending, briefly, then closes.
asio::awaitable<void> drain_and_close(TlsConnection& conn) {
  conn.set_idle_timeout(kDrainTime);
  const auto until = std::chrono::steady_clock::now() + kDrainTime;
  std::size_t dropped = 0;
  while (dropped < kMaxDrainBytes && std::chrono::steady_clock::now() < until) {
    auto got = co_await conn.read_some();
    if (!got || got->empty()) break;
    dropped += got->size();
  }
  co_await conn.close();
}

asio::awaitable<void> serve(std::shared_ptr<State> st, tcp::socket socket) {
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { n--; }
  } count{st->open_connections};

  TlsConnection conn(std::move(socket), st->tls, st->opts.idle_timeout);
  conn.start_watchdog();
  const std::string peer = conn.peer();
  if (auto hs = co_await conn.handshake(); !hs) {
    // Port scanners and health probes close without a handshake; only real failures are warnings.
    const bool quiet = hs.error().find("peer closed") != std::string::npos ||
                       hs.error().find("idle timeout") != std::string::npos;
    if (quiet) log::debug("api", "connection closed before TLS was set up", {{"peer", peer}, {"reason", hs.error()}});
    else log::warn("api", "TLS handshake failed", {{"peer", peer}, {"reason", hs.error()}});
    co_return;
  }

  std::string pending;  // plaintext received but not yet parsed (pipelined requests)
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(st->opts.max_body_bytes);
    parser.eager(true);
    beast::error_code parse_error;
    bool sent_continue = false;
    std::optional<std::string> ended;  // why the connection ended while waiting for a request
    while (!parser.is_done()) {
      if (!pending.empty()) {
        std::size_t used = parser.put(asio::buffer(pending), parse_error);
        pending.erase(0, used);
        if (parse_error == http::error::need_more) parse_error = {};
        if (parse_error || parser.is_done()) break;
        if (used > 0 && !pending.empty()) continue;
      }
      if (parser.is_header_done() && !sent_continue) {
        sent_continue = true;
        auto expect = parser.get().find(http::field::expect);
        if (expect != parser.get().end() && beast::iequals(expect->value(), "100-continue")) {
          auto sent = co_await conn.write("HTTP/1.1 100 Continue\r\n\r\n");
          if (!sent) co_return;
        }
      }
      auto got = co_await conn.read_some();
      if (!got) {
        ended = got.error();
        break;
      }
      if (got->empty()) {
        ended = "peer closed";
        break;
      }
      pending += *got;
    }

    const auto started = std::chrono::steady_clock::now();
    if (ended) {
      if (parser.got_some() || !pending.empty())
        log::debug("api", "connection ended mid-request", {{"peer", peer}, {"reason", *ended}});
      co_return co_await conn.close();
    }
    if (parse_error) {
      auto status = parse_error == http::error::body_limit     ? http::status::payload_too_large
                    : parse_error == http::error::header_limit ? http::status::request_header_fields_too_large
                                                               : http::status::bad_request;
      std::string message =
          status == http::status::payload_too_large
              ? "request body is larger than " + std::to_string(st->opts.max_body_bytes) + " bytes"
          : status == http::status::request_header_fields_too_large
              ? "request headers are larger than " + std::to_string(kHeaderLimit) + " bytes"
              : "malformed HTTP request: " + parse_error.message();
      HttpResponse res = error_response(status, message);
      res.keep_alive(false);
      res.set(http::field::server, "vigil-collector");
      res.prepare_payload();
      std::string path = parser.is_header_done() ? std::string(split_target(sv(parser.get().target())).path) : "-";
      std::string method = parser.is_header_done() ? std::string(sv(parser.get().method_string())) : "-";
      log_request(peer, method, path, res, started);
      const std::string wire = serialize_header(res) + res.body();
      auto sent = co_await conn.write(wire);
      if (sent) co_await drain_and_close(conn);
      co_return;
    }

    HttpRequest req = parser.release();
    const std::string method(sv(req.method_string()));
    const std::string path(split_target(sv(req.target())).path);
    Dispatch d = st->handler.dispatch(req, peer);
    // (No co_await inside ?: — GCC 12 miscompiles temporaries there.)
    HttpResponse res;
    if (d.response) res = std::move(*d.response);
    else {
      conn.hold_for(std::chrono::minutes(10));
      res = co_await run_storage_job(*st, std::move(d.storage_job));
    }
    const bool keep_alive = req.keep_alive() && !st->stopping.load();
    res.version(11);
    res.keep_alive(keep_alive);
    res.set(http::field::server, "vigil-collector");
    res.prepare_payload();
    log_request(peer, method, path, res, started);

    // Named values only across co_await: the header, then the body without copying it.
    const std::string head = serialize_header(res);
    auto sent = co_await conn.write(head);
    if (sent && !res.body().empty()) sent = co_await conn.write(res.body());
    if (!sent) co_return;
    if (!keep_alive) co_return co_await conn.close();
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> st) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await st->acceptor.async_accept(asio::make_strand(st->io), asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !st->acceptor.is_open() || st->stopping.load()) co_return;
    if (ec) {
      // EMFILE and friends: back off briefly rather than spin.
      log::warn("api", "accept failed", {{"error", ec.message()}});
      asio::steady_timer t(st->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (st->open_connections.load() >= st->opts.max_connections) {
      log::warn("api", "connection refused: too many connections",
                {{"limit", std::to_string(st->opts.max_connections)}});
      continue;  // the socket closes on scope exit
    }
    st->open_connections++;
    auto ex = socket.get_executor();
    asio::co_spawn(ex, serve(st, std::move(socket)), asio::detached);
  }
}

}  // namespace

ApiServer::ApiServer(asio::io_context& io, std::shared_ptr<const TlsConfig> tls, EventStore& store, ApiOptions options,
                     CollectionConfigs* configs, policy::SqlitePolicyStore* policies, const policy::PolicyEngine* engine)
    : state_(std::make_shared<State>(io, std::move(tls), store, std::move(options), configs, policies, engine)) {}

ApiServer::~ApiServer() {
  state_->stopping = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  // Connections that outlive this object find the pool stopped: their storage jobs never run, and
  // their coroutines are destroyed with the io_context.
  state_->pool.stop();
  state_->pool.join();
}

ApiHandler& ApiServer::handler() { return state_->handler; }

Status ApiServer::listen() {
  auto& st = *state_;
  const std::string where = st.opts.address + ":" + std::to_string(st.opts.port);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(st.opts.address, ec);
  if (ec) return err("API: bad listen address '" + st.opts.address + "': " + ec.message());
  tcp::endpoint ep(addr, st.opts.port);
  st.acceptor.open(ep.protocol(), ec);
  if (!ec) st.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) st.acceptor.bind(ep, ec);
  if (!ec) st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    st.acceptor.close(ignored);
    return err("bind " + where + ": " + ec.message());
  }
  port_ = st.acceptor.local_endpoint().port();
  asio::co_spawn(st.acceptor.get_executor(), accept_loop(state_), asio::detached);
  log::info("api", "listening", {{"address", st.opts.address + ":" + std::to_string(port_)}});
  return {};
}

void ApiServer::stop() {
  state_->stopping = true;
  // The acceptor belongs to its strand while accepting; close it there.
  asio::post(state_->acceptor.get_executor(), [st = state_] {
    boost::system::error_code ec;
    st->acceptor.close(ec);
  });
}

}  // namespace vigil::collector
