// The HTTPS API end to end: a real ApiServer on an ephemeral port over real TLS and a real SQLite
// store, driven by vigilctl's own HTTPS client.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "collector/api/api_server.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "shared/crypto.h"
#include "shared/pki.h"
#include "shared/time_util.h"
#include "tests/unit/test_support.h"

// vigilctl's client is compiled into vigilctl only; the tests use the very same code.
#include "collector/ctl/https_client.cpp"

using namespace vigil;
using namespace vigil::collector;
using vigil::ctl::HttpsClient;
using vigil::ctl::HttpsResponse;
using vigil::ctl::ServerUrl;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kToken = "test-admin-token-0123456789";
constexpr std::int64_t kSecond = 1'000'000'000;

using test::must;
using test::TempDir;

// A CA and a server certificate for 127.0.0.1, made once for all tests.
struct ApiPki {
  std::string ca_pem;
  std::shared_ptr<const TlsConfig> server;
};

const ApiPki& api_pki() {
  static const ApiPki pki = [] {
    ApiPki p;
    auto ca = must(pki::create_ca("Vigil API Test CA", 30));
    auto key = must(pki::generate_key_pem());
    auto cert = must(pki::issue_server_cert(ca, key, "vigil-collector", {"127.0.0.1", "localhost"}, 30));
    TlsOptions o;
    o.role = TlsRole::Server;
    o.ca_pem = ca.cert_pem;
    o.cert_pem = cert;
    o.key_pem = key;
    o.client_auth = ClientAuth::None;
    p.server = must(TlsConfig::create(o));
    p.ca_pem = ca.cert_pem;
    return p;
  }();
  return pki;
}

// The real SQLite store, remembering the last event query and optionally slowing queries down.
class RecordingStore : public EventStore {
 public:
  explicit RecordingStore(EventStore& inner) : inner_(inner) {}

  std::optional<EventQuery> last_query() {
    std::lock_guard lock(mu_);
    return last_;
  }
  std::atomic<int> query_delay_ms{0};

  Result<std::vector<AppendResult>> append_batches(std::span<const IncomingBatch> b, std::int64_t now) override {
    return inner_.append_batches(b, now);
  }
  Result<std::vector<StoredEvent>> query_events(const EventQuery& q) override {
    {
      std::lock_guard lock(mu_);
      last_ = q;
    }
    if (int ms = query_delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return inner_.query_events(q);
  }
  Result<SeqCoverage> seq_coverage(const std::string& d) override { return inner_.seq_coverage(d); }
  Status register_device(const DeviceRecord& d) override { return inner_.register_device(d); }
  Result<std::optional<DeviceRecord>> find_device(const std::string& d) override { return inner_.find_device(d); }
  Result<std::vector<DeviceRecord>> list_devices() override { return inner_.list_devices(); }
  Status device_hello(const std::string& d, const std::string& h, const std::string& os, const std::string& v,
                      std::int64_t now) override {
    return inner_.device_hello(d, h, os, v, now);
  }
  Status set_device_status(const std::string& d, const std::string& s) override { return inner_.set_device_status(d, s); }
  Status add_enroll_token(const std::string& h, std::int64_t e, std::uint32_t u) override {
    return inner_.add_enroll_token(h, e, u);
  }
  Result<TokenCheck> consume_enroll_token(const std::string& h, std::int64_t now) override {
    return inner_.consume_enroll_token(h, now);
  }

 private:
  EventStore& inner_;
  std::mutex mu_;
  std::optional<EventQuery> last_;
};

std::unique_ptr<EventStore> open_api_store(const std::filesystem::path& dir) {
  return must(open_sqlite_event_store((dir / "vigil.db").string()));
}

ApiOptions test_options(ApiOptions o = {}) {
  o.address = "127.0.0.1";
  o.port = 0;
  o.admin_token_sha256 = crypto::sha256_hex(kToken);
  return o;
}

// A server on an ephemeral port with two I/O threads, stopped on scope exit.
struct ApiFixture {
  TempDir dir;
  std::unique_ptr<EventStore> sqlite = open_api_store(dir.path);
  RecordingStore store{*sqlite};
  boost::asio::io_context io;
  ApiServer server;
  std::vector<std::thread> threads;

  explicit ApiFixture(ApiOptions options = {}) : server(io, api_pki().server, store, test_options(options)) {
    auto s = server.listen();
    INFO((s.ok() ? std::string() : s.error()));
    REQUIRE(s.ok());
    REQUIRE(server.port() != 0);
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~ApiFixture() {
    server.stop();
    io.stop();
    for (auto& t : threads) t.join();
  }

  HttpsClient client() {
    vigil::ctl::HttpsClientOptions o;
    o.io_timeout = 10s;
    return must(HttpsClient::create(ServerUrl{"127.0.0.1", server.port()}, api_pki().ca_pem, o));
  }

  HttpsResponse call(std::string_view method, std::string_view target, std::string_view body = {},
                     std::optional<std::string> token = std::string(kToken)) {
    auto c = client();
    return call(c, method, target, body, std::move(token));
  }
  static HttpsResponse call(HttpsClient& c, std::string_view method, std::string_view target,
                            std::string_view body = {}, std::optional<std::string> token = std::string(kToken)) {
    vigil::ctl::HttpHeaders headers;
    if (token) headers.emplace_back("Authorization", "Bearer " + *token);
    return must(c.request(method, target, headers, body));
  }

  void add_events(const std::string& device, std::uint64_t first, const std::vector<v1::Event>& events) {
    v1::EventBatch b;
    b.set_schema_version(1);
    b.set_device_id(device);
    b.set_first_seq(first);
    b.set_last_seq(first + events.size() - 1);
    for (const auto& e : events) *b.add_events() = e;
    std::string payload = encode_batch(b);
    IncomingBatch in{device, &b, payload};
    auto r = must(store.append_batches(std::span<const IncomingBatch>(&in, 1), now_ns()));
    REQUIRE(r.at(0).outcome == AppendOutcome::Stored);
  }
};

json::object body_of(const HttpsResponse& r) {
  INFO(r.body);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  REQUIRE(!ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::string error_of(const HttpsResponse& r) {
  auto o = body_of(r);
  REQUIRE(o.contains("error"));
  REQUIRE(o.at("error").is_string());
  return std::string(o.at("error").as_string());
}

v1::Event file_event(std::uint64_t seq, std::int64_t time_ns, const std::string& type, const std::string& user,
                     const std::string& path) {
  v1::Event e;
  e.set_seq(seq);
  e.set_time_ns(time_ns);
  e.set_type(type);
  e.set_user(user);
  e.set_login_uid(1000);
  e.mutable_process()->set_pid(42);
  e.mutable_process()->set_exe("/usr/bin/cp");
  e.mutable_file()->set_path(path);
  e.mutable_file()->set_size(123);
  return e;
}

// A plain TCP connection that says nothing.
struct SilentPeer {
  int fd = -1;
  explicit SilentPeer(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~SilentPeer() { ::close(fd); }
  // Whether the server closed the connection within `wait`.
  bool closed_by_server_within(std::chrono::milliseconds wait) {
    timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
};

}  // namespace

TEST_CASE("API: every /api/v1 endpoint needs the bearer token", "[api]") {
  ApiFixture f;
  for (const char* target : {"/api/v1/health", "/api/v1/events", "/api/v1/devices", "/api/v1/nothing-here"}) {
    INFO(target);
    auto missing = f.call("GET", target, {}, std::nullopt);
    CHECK(missing.status == 401);
    CHECK(error_of(missing).find("Authorization") != std::string::npos);

    auto wrong = f.call("GET", target, {}, std::string("not-the-token"));
    CHECK(wrong.status == 401);
    CHECK(error_of(wrong) == "invalid API token");
  }
  auto c = f.client();
  auto basic = must(c.request("GET", "/api/v1/health", {{"Authorization", "Basic dXNlcjpwYXNz"}}));
  CHECK(basic.status == 401);
  CHECK(error_of(basic).find("Bearer") != std::string::npos);
  auto no_post = f.call("POST", "/api/v1/enroll-tokens", "{}", std::nullopt);
  CHECK(no_post.status == 401);

  auto ok = f.call("GET", "/api/v1/health");
  REQUIRE(ok.status == 200);
  CHECK(ok.content_type == "application/json");
  auto body = body_of(ok);
  CHECK(body.at("status") == "ok");
  CHECK(body.at("version") == VIGIL_VERSION);
}

TEST_CASE("API: a server without a configured token refuses every token", "[api]") {
  // test_options() always sets the hash; build one without it by hand.
  TempDir dir;
  auto sqlite = open_api_store(dir.path);
  boost::asio::io_context io;
  ApiOptions none;
  none.address = "127.0.0.1";
  none.port = 0;
  ApiServer server(io, api_pki().server, *sqlite, none);
  REQUIRE(server.listen().ok());
  std::thread t([&] { io.run(); });
  auto c = must(HttpsClient::create(ServerUrl{"127.0.0.1", server.port()}, api_pki().ca_pem));
  auto r = ApiFixture::call(c, "GET", "/api/v1/health", {}, std::string(""));
  CHECK(r.status == 401);
  auto r2 = ApiFixture::call(c, "GET", "/api/v1/health", {}, std::string(kToken));
  CHECK(r2.status == 401);
  server.stop();
  io.stop();
  t.join();
}

TEST_CASE("API: events filters reach the store and events come back as JSON", "[api]") {
  ApiFixture f;
  const std::int64_t t0 = now_ns() - 600 * kSecond;
  f.add_events("dev-1", 1,
               {file_event(1, t0, "file.create", "alice", "/data/w/a.txt"),
                file_event(2, t0 + kSecond, "file.write", "alice", "/data/w/a.txt"),
                file_event(3, t0 + 2 * kSecond, "file.create", "bob", "/data/other/b.txt")});

  SECTION("no filters: everything, default limit") {
    auto r = f.call("GET", "/api/v1/events");
    REQUIRE(r.status == 200);
    auto body = body_of(r);
    CHECK(body.at("count") == 3);
    const auto& events = body.at("events").as_array();
    REQUIRE(events.size() == 3);
    const auto& e = events[0].as_object();
    CHECK(e.at("device_id") == "dev-1");
    CHECK(e.at("seq") == 1);
    CHECK(e.at("type") == "file.create");
    CHECK(e.at("user") == "alice");
    CHECK(e.at("path") == "/data/w/a.txt");
    CHECK(std::string(e.at("time").as_string()) == format_rfc3339(t0));
    auto q = f.store.last_query();
    REQUIRE(q);
    CHECK(q->limit == 1000);
    CHECK_FALSE(q->device_id);
    CHECK_FALSE(q->user);
    CHECK_FALSE(q->type);
    CHECK_FALSE(q->path_glob);
    CHECK_FALSE(q->since_ns);
    CHECK_FALSE(q->until_ns);
  }

  SECTION("every filter is decoded and passed through") {
    const std::int64_t before = now_ns();
    auto r = f.call("GET",
                    "/api/v1/events?device=dev-1&user=alice&type=file.&path=%2Fdata%2Fw%2F*"
                    "&since=1h&until=2100-01-01T00%3A00%3A00Z&limit=5");
    REQUIRE(r.status == 200);
    auto q = f.store.last_query();
    REQUIRE(q);
    CHECK(q->device_id == "dev-1");
    CHECK(q->user == "alice");
    CHECK(q->type == "file.");
    CHECK(q->path_glob == "/data/w/*");
    CHECK(q->limit == 5);
    REQUIRE(q->since_ns);
    CHECK(*q->since_ns <= before - 3600 * kSecond + 5 * kSecond);
    CHECK(*q->since_ns >= before - 3600 * kSecond - 5 * kSecond);
    CHECK(q->until_ns == must(parse_rfc3339("2100-01-01T00:00:00Z")));
    auto body = body_of(r);
    CHECK(body.at("count") == 2);
    for (const auto& e : body.at("events").as_array()) CHECK(e.at("path") == "/data/w/a.txt");
  }

  SECTION("'+' and %XX decode in values; empty values mean not given") {
    auto r = f.call("GET", "/api/v1/events?user=mary+ann%20lee&device=&since=2020-01-01T00:00:00%2B02:00");
    REQUIRE(r.status == 200);
    auto q = f.store.last_query();
    REQUIRE(q);
    CHECK(q->user == "mary ann lee");
    CHECK_FALSE(q->device_id);
    CHECK(q->since_ns == must(parse_rfc3339("2020-01-01T00:00:00+02:00")));
    CHECK(body_of(r).at("count") == 0);
  }

  SECTION("type narrows the results") {
    auto r = f.call("GET", "/api/v1/events?type=file.create&user=bob");
    REQUIRE(r.status == 200);
    auto body = body_of(r);
    REQUIRE(body.at("count") == 1);
    CHECK(body.at("events").as_array()[0].at("path") == "/data/other/b.txt");
  }
}

TEST_CASE("API: bad event queries are 400 naming what was wrong", "[api]") {
  ApiFixture f;
  struct Case {
    const char* query;
    const char* mentions;
  };
  for (auto c : {Case{"usr=alice", "'usr'"}, Case{"limit=0", "limit"}, Case{"limit=100001", "limit"},
                 Case{"limit=abc", "limit"}, Case{"limit=-1", "limit"}, Case{"since=yesterday", "since"},
                 Case{"until=2026-13", "until"}, Case{"user=a&user=b", "more than once"},
                 Case{"user=%zz", "percent"}, Case{"since=1h&until=2h", "before"}}) {
    INFO(c.query);
    auto r = f.call("GET", std::string("/api/v1/events?") + c.query);
    CHECK(r.status == 400);
    CHECK(error_of(r).find(c.mentions) != std::string::npos);
  }
  auto ok = f.call("GET", "/api/v1/events?limit=100000");
  CHECK(ok.status == 200);
  auto devices = f.call("GET", "/api/v1/devices?x=1");
  CHECK(devices.status == 400);
  CHECK(error_of(devices).find("'x'") != std::string::npos);
}

TEST_CASE("API: devices are listed", "[api]") {
  ApiFixture f;
  auto empty = f.call("GET", "/api/v1/devices");
  REQUIRE(empty.status == 200);
  CHECK(body_of(empty).at("devices").as_array().empty());

  DeviceRecord d;
  d.device_id = "dev-42";
  d.hostname = "laptop-7";
  d.os = "Debian 12";
  d.agent_version = "0.1.0";
  d.enrolled_ns = now_ns();
  REQUIRE(f.store.register_device(d).ok());
  auto r = f.call("GET", "/api/v1/devices");
  REQUIRE(r.status == 200);
  auto body = body_of(r);
  const auto& list = body.at("devices").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("device_id") == "dev-42");
  CHECK(list[0].at("hostname") == "laptop-7");
  CHECK(list[0].at("status") == "active");
}

TEST_CASE("API: enrollment tokens are minted, stored by hash, and their input is checked", "[api]") {
  ApiFixture f;

  SECTION("defaults: one use, 24 hours") {
    const std::int64_t before = now_ns();
    for (const char* body : {"", "{}"}) {
      auto r = f.call("POST", "/api/v1/enroll-tokens", body);
      REQUIRE(r.status == 201);
      auto o = body_of(r);
      const std::string token(o.at("token").as_string());
      CHECK(token.size() >= 32);
      CHECK(o.at("uses") == 1);
      auto expires = must(parse_rfc3339(std::string(o.at("expires").as_string())));
      CHECK(expires >= before + 24 * 3600 * kSecond - 5 * kSecond);
      CHECK(expires <= now_ns() + 24 * 3600 * kSecond + 5 * kSecond);
      // Stored by SHA-256: the hash of what we were given is accepted once, the token itself is unknown.
      CHECK(must(f.store.consume_enroll_token(token, now_ns())) == TokenCheck::Unknown);
      CHECK(must(f.store.consume_enroll_token(crypto::sha256_hex(token), now_ns())) == TokenCheck::Accepted);
      CHECK(must(f.store.consume_enroll_token(crypto::sha256_hex(token), now_ns())) == TokenCheck::UsedUp);
    }
  }

  SECTION("uses and ttl") {
    auto r = f.call("POST", "/api/v1/enroll-tokens", R"({"uses": 3, "ttl": "7d"})");
    REQUIRE(r.status == 201);
    auto o = body_of(r);
    CHECK(o.at("uses") == 3);
    auto expires = must(parse_rfc3339(std::string(o.at("expires").as_string())));
    CHECK(std::llabs(expires - (now_ns() + 7 * 86400 * kSecond)) < 10 * kSecond);
    const std::string hash = crypto::sha256_hex(std::string(o.at("token").as_string()));
    for (int i = 0; i < 3; ++i) CHECK(must(f.store.consume_enroll_token(hash, now_ns())) == TokenCheck::Accepted);
    CHECK(must(f.store.consume_enroll_token(hash, now_ns())) == TokenCheck::UsedUp);
    // Two tokens are never the same.
    auto again = body_of(f.call("POST", "/api/v1/enroll-tokens", "{}"));
    CHECK(again.at("token") != o.at("token"));
  }

  SECTION("bad bodies are 400 naming the problem") {
    struct Case {
      const char* body;
      const char* mentions;
    };
    for (auto c : {Case{"{", "not valid JSON"}, Case{"[1]", "JSON object"}, Case{"\"x\"", "JSON object"},
                   Case{R"({"usess": 1})", "'usess'"}, Case{R"({"uses": "3"})", "'uses'"},
                   Case{R"({"uses": 1.5})", "'uses'"}, Case{R"({"uses": 0})", "'uses'"},
                   Case{R"({"uses": 100001})", "'uses'"}, Case{R"({"uses": 18446744073709551615})", "'uses'"},
                   Case{R"({"uses": -4})", "'uses'"}, Case{R"({"ttl": 5})", "'ttl'"},
                   Case{R"({"ttl": "soon"})", "'ttl'"}, Case{R"({"ttl": "366d"})", "365d"},
                   Case{R"({"ttl": "0s"})", "'ttl'"}, Case{R"({"uses": 1} trailing)", "not valid JSON"}}) {
      INFO(c.body);
      auto r = f.call("POST", "/api/v1/enroll-tokens", c.body);
      CHECK(r.status == 400);
      CHECK(error_of(r).find(c.mentions) != std::string::npos);
    }
    auto ok = f.call("POST", "/api/v1/enroll-tokens", R"({"uses": 100000, "ttl": "365d"})");
    CHECK(ok.status == 201);
  }
}

TEST_CASE("API: unknown paths are 404, wrong methods 405", "[api]") {
  ApiFixture f;
  auto r404 = f.call("GET", "/api/v1/nope");
  CHECK(r404.status == 404);
  CHECK(error_of(r404).find("/api/v1/nope") != std::string::npos);
  CHECK(f.call("GET", "/api/v1/events/").status == 404);
  CHECK(f.call("GET", "/").status == 404);
  CHECK(f.call("GET", "/index.html", {}, std::nullopt).status == 404);

  auto r405 = f.call("DELETE", "/api/v1/events");
  CHECK(r405.status == 405);
  CHECK(error_of(r405).find("GET") != std::string::npos);
  CHECK(f.call("POST", "/api/v1/devices", "{}").status == 405);
  CHECK(f.call("GET", "/api/v1/enroll-tokens").status == 405);
}

TEST_CASE("API: keep-alive serves many requests on one connection", "[api]") {
  ApiFixture f;
  auto c = f.client();
  for (int i = 0; i < 5; ++i) {
    CHECK(ApiFixture::call(c, "GET", "/api/v1/health").status == 200);
    CHECK(ApiFixture::call(c, "GET", "/api/v1/nope").status == 404);
    CHECK(ApiFixture::call(c, "GET", "/api/v1/events?bad=1").status == 400);
  }
  CHECK(c.connections_opened() == 1);
  // Connection: close is honoured: the next request needs a new connection.
  auto closing = must(c.request("GET", "/api/v1/health", {{"Authorization", std::string("Bearer ") + kToken},
                                                          {"Connection", "close"}}));
  CHECK(closing.status == 200);
  CHECK(ApiFixture::call(c, "GET", "/api/v1/health").status == 200);
  CHECK(c.connections_opened() == 2);
}

TEST_CASE("API: a silent client does not hold up anyone else", "[api]") {
  ApiFixture f;
  SilentPeer silent1(f.server.port());
  SilentPeer silent2(f.server.port());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) CHECK(f.call("GET", "/api/v1/health").status == 200);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("API: a slow storage query does not stall other clients", "[api]") {
  ApiFixture f;
  f.store.query_delay_ms = 1500;
  auto slow = std::async(std::launch::async, [&] { return f.call("GET", "/api/v1/events").status; });
  std::this_thread::sleep_for(200ms);  // the slow query is now running on a storage worker
  const auto start = std::chrono::steady_clock::now();
  CHECK(f.call("GET", "/api/v1/health").status == 200);
  CHECK(f.call("GET", "/api/v1/events?bad=1").status == 400);
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
  CHECK(slow.wait_for(0s) == std::future_status::timeout);  // both were in flight together
  CHECK(slow.get() == 200);
}

TEST_CASE("API: idle connections are closed after the idle timeout", "[api]") {
  ApiOptions o;
  o.idle_timeout = 1s;
  ApiFixture f(o);
  SilentPeer silent(f.server.port());
  CHECK(silent.closed_by_server_within(4000ms));
}

TEST_CASE("API: oversized or malformed requests are refused", "[api]") {
  ApiOptions o;
  o.max_body_bytes = 4096;
  ApiFixture f(o);

  SECTION("body over the limit is 413") {
    std::string big = R"({"ttl": ")" + std::string(8000, '1') + "s\"}";
    auto r = f.call("POST", "/api/v1/enroll-tokens", big);
    CHECK(r.status == 413);
    CHECK(error_of(r).find("4096") != std::string::npos);
  }
  SECTION("a body just under the limit is parsed") {
    std::string fits = R"({"ttl": "24h")" + std::string(3000, ' ') + "}";
    CHECK(f.call("POST", "/api/v1/enroll-tokens", fits).status == 201);
  }
  SECTION("headers over 16 KiB are 431") {
    auto c = f.client();
    auto r = must(c.request("GET", "/api/v1/health", {{"X-Padding", std::string(20000, 'p')}}));
    CHECK(r.status == 431);
  }
  SECTION("a malformed request line is 400 and the connection closes") {
    auto c = f.client();
    auto r = ApiFixture::call(c, "GET", "/api/v1/health extra");
    CHECK(r.status == 400);
    CHECK(error_of(r).find("malformed") != std::string::npos);
    CHECK(ApiFixture::call(c, "GET", "/api/v1/health").status == 200);
    CHECK(c.connections_opened() == 2);
  }
  SECTION("the server keeps serving afterwards") {
    CHECK(f.call("GET", "/api/v1/health").status == 200);
  }
}

TEST_CASE("API: listen reports a port already in use", "[api]") {
  ApiFixture f;
  ApiOptions o = test_options();
  o.port = f.server.port();
  boost::asio::io_context io;
  ApiServer second(io, api_pki().server, f.store, o);
  auto s = second.listen();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error() == "bind 127.0.0.1:" + std::to_string(o.port) + ": Address already in use");

  o.address = "not-an-address";
  ApiServer third(io, api_pki().server, f.store, o);
  auto bad = third.listen();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("not-an-address") != std::string::npos);
}

TEST_CASE("vigilctl client: errors say what and where", "[api]") {
  // A port nothing listens on: bind one, note it, close it.
  std::uint16_t port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto c = must(HttpsClient::create(ServerUrl{"127.0.0.1", port}, api_pki().ca_pem));
  auto r = c.request("GET", "/api/v1/health");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");

  // A server whose certificate names another host.
  ApiFixture f;
  {
    auto ca = must(pki::create_ca("Vigil API Test CA 2", 30));
    auto key = must(pki::generate_key_pem());
    auto cert = must(pki::issue_server_cert(ca, key, "elsewhere", {"elsewhere.example"}, 30));
    TlsOptions o;
    o.role = TlsRole::Server;
    o.ca_pem = ca.cert_pem;
    o.cert_pem = cert;
    o.key_pem = key;
    o.client_auth = ClientAuth::None;
    boost::asio::io_context io;
    ApiServer elsewhere(io, must(TlsConfig::create(o)), f.store, test_options());
    REQUIRE(elsewhere.listen().ok());
    std::thread t([&] { io.run(); });
    auto wrong_name = must(HttpsClient::create(ServerUrl{"127.0.0.1", elsewhere.port()}, ca.cert_pem));
    auto r2 = wrong_name.request("GET", "/api/v1/health");
    elsewhere.stop();
    io.stop();
    t.join();
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().find("TLS handshake with 127.0.0.1:" + std::to_string(elsewhere.port()) + " failed: ") == 0);
  }

  // A CA that did not issue the server certificate.
  auto other = must(pki::create_ca("Some Other CA", 30));
  auto untrusting = must(HttpsClient::create(ServerUrl{"127.0.0.1", f.server.port()}, other.cert_pem));
  auto r3 = untrusting.request("GET", "/api/v1/health");
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().find("TLS handshake with 127.0.0.1") == 0);
}
