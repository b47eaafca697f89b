// Collection config end to end through the real binaries: an agent started watching dir A gets
// a config with watch_paths [B] pushed over its mutual-TLS connection (set with vigilctl, i.e.
// PUT /api/v1/collection-config), applies it without a restart (B captured, A no longer),
// reports the version (devices API), keeps it across a restart (Hello carries it, no re-push),
// and a config with an invalid regex is refused with 400 and changes nothing. Tag: [config].
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "shared/framing.h"
#include "shared/tls_session.h"
#include "tests/integration/harness.h"
#include "vigil.pb.h"

using namespace vigil;
using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

bool has_path(const std::vector<json::object>& events, const std::string& path) {
  for (const auto& e : events)
    if (str(e, "path") == path) return true;
  return false;
}

std::optional<json::object> device_row(Deployment& d, const std::string& device) {
  auto r = d.ctl({"devices", "--json"});
  if (r.exit_code != 0) return std::nullopt;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto o = json::parse(line).as_object();
    if (str(o, "device_id") == device) return o;
  }
  return std::nullopt;
}

std::uint64_t reported_version(Deployment& d, const std::string& device) {
  auto row = device_row(d, device);
  return row ? u64(*row, "config_version") : 0;
}

std::string config_json(const std::string& watch, const std::string& regex = "TCK-[0-9]{4,8}") {
  json::object c;
  c["watch_paths"] = json::array{json::value(watch)};
  c["exclude_paths"] = json::array{json::value(watch + "/cache")};
  c["priority_paths"] = json::array{json::value(watch + "/*.xlsx")};
  json::array rules;
  rules.emplace_back(json::object{{"id", "tickets"}, {"kind", "regex"}, {"regex", regex}, {"min_count", 2}});
  rules.emplace_back(json::object{{"id", "project_x"}, {"kind", "keywords"}, {"keywords", json::array{"project x", "bluebird"}}});
  c["rules"] = std::move(rules);
  c["classify_max_bytes"] = 4u << 20;
  c["classify_max_ms"] = 100;
  return json::serialize(c);
}

// A device speaking the wire protocol by hand over a blocking socket (to control Hello and
// ConfigApplied exactly).
struct WireClient {
  int fd = -1;
  TlsSession tls;
  FrameDecoder dec{1 << 20};
  WireClient(std::uint16_t port, std::shared_ptr<const TlsConfig> cfg) : tls(std::move(cfg)) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~WireClient() {
    if (fd >= 0) ::close(fd);
  }
  void send_raw(const std::string& b) {
    std::size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  std::string recv_raw(std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  bool handshake() {
    for (int i = 0; i < 200; ++i) {
      auto st = tls.handshake();
      if (tls.has_output()) send_raw(tls.take_output());
      if (st == TlsSession::State::Open) return true;
      if (st != TlsSession::State::Handshaking) return false;
      auto in = recv_raw(5s);
      if (in.empty()) return false;
      tls.feed(in);
    }
    return false;
  }
  void send(const v1::AgentMessage& m) {
    REQUIRE(tls.write(encode_frame(m.SerializeAsString())).ok());
    send_raw(tls.take_output());
  }
  // The next message, or nullopt when none came within the timeout (or the connection ended).
  std::optional<v1::CollectorMessage> next(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto f = dec.next();
      if (f.ok() && f->has_value()) {
        v1::CollectorMessage m;
        if (m.ParseFromString(**f)) return m;
        return std::nullopt;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto in = recv_raw(left);
      if (in.empty()) return std::nullopt;
      tls.feed(in);
      auto plain = tls.read();
      if (!plain.ok()) return std::nullopt;
      dec.feed(*plain);
    }
  }
};

}  // namespace

TEST_CASE("a pushed collection config moves capture without a restart and survives one", "[config][e2e]") {
  Deployment d("e2e-config");
  d.start_collector();
  const std::string adir = d.enroll_agent("cfg");
  const std::string device = d.device_id(adir);
  REQUIRE(!device.empty());
  const std::string a = d.dir() + "/watch-a", b = d.dir() + "/watch-b";
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);

  Process agent = d.start_agent(adir, {a});
  std::this_thread::sleep_for(1500ms);  // capture marks are placed during start-up
  write_file(a + "/before.txt", "seen while A is watched");
  REQUIRE(eventually([&] { return has_path(d.events(device), a + "/before.txt"); }, 20s));
  CHECK(reported_version(d, device) == 0);  // Hello: local settings only

  // No config yet: show says so.
  auto shown = d.ctl({"config", "show", "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(u64(json::parse(shown.out).as_object(), "version") == 0);

  // Push watch_paths [B].
  const std::string file = d.dir() + "/config-b.json";
  spit(file, config_json(b));
  auto set = d.ctl({"config", "set", file, "--json"});
  INFO(set.err);
  REQUIRE(set.exit_code == 0);
  const std::uint64_t version = u64(json::parse(set.out).as_object(), "version");
  REQUIRE(version > 0);

  // Applied within a few seconds, without a restart.
  const auto pushed_at = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return reported_version(d, device) == version; }, 10s, 100ms));
  const auto apply_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - pushed_at).count();
  WARN("config applied and reported " << apply_ms << " ms after the PUT");
  CHECK(apply_ms < 5000);
  CHECK(agent.running());
  auto row = device_row(d, device);
  REQUIRE(row);
  CHECK(row->at("config_error").is_null());

  // B is captured; A no longer is: A's write happens first, so had A still been watched its event
  // would arrive before B's marker.
  write_file(a + "/after.txt", "A is no longer watched");
  std::this_thread::sleep_for(200ms);
  write_file(b + "/in-b.txt", "B is watched now");
  std::filesystem::create_directories(b + "/cache");
  write_file(b + "/cache/excluded.txt", "excluded by the config");
  write_file(b + "/marker.txt", "marker");
  std::vector<json::object> events;
  REQUIRE(eventually([&] {
    events = d.events(device);
    return has_path(events, b + "/in-b.txt") && has_path(events, b + "/marker.txt");
  }, 20s));
  CHECK_FALSE(has_path(events, a + "/after.txt"));
  CHECK_FALSE(has_path(events, b + "/cache/excluded.txt"));

  // The devices table shows it for people too.
  auto table = d.ctl({"devices"});
  CHECK(table.out.find("CONFIG") != std::string::npos);

  // Restart: the agent keeps the config (persisted) and says so in Hello; nothing is re-pushed.
  agent.signal(SIGTERM);
  REQUIRE(agent.wait(20s));
  const std::string persisted = slurp(adir + "/collection.json");
  CHECK(persisted.find(b) != std::string::npos);
  const std::size_t log_before = slurp(agent.log_path()).size();
  const std::string reported_before = str(*device_row(d, device), "config_reported");
  Process again = d.start_agent(adir, {a});  // same --watch A: the config still wins
  REQUIRE(eventually([&] {
    auto r = device_row(d, device);
    return r && str(*r, "config_reported") != reported_before && u64(*r, "config_version") == version;
  }, 20s, 100ms));
  std::this_thread::sleep_for(1500ms);
  write_file(a + "/after-restart.txt", "still not watched");
  std::this_thread::sleep_for(200ms);
  write_file(b + "/after-restart.txt", "still watched");
  REQUIRE(eventually([&] {
    events = d.events(device);
    return has_path(events, b + "/after-restart.txt");
  }, 20s));
  CHECK_FALSE(has_path(events, a + "/after-restart.txt"));
  const std::string second_run_log = slurp(again.log_path()).substr(log_before);
  CHECK(second_run_log.find("running the stored collection config") != std::string::npos);
  CHECK(second_run_log.find("collection config received") == std::string::npos);

  // A bad regex is refused by the API (400 -> vigilctl exit 2) naming the rule and the reason;
  // nothing changes.
  const std::string bad = d.dir() + "/config-bad.json";
  spit(bad, config_json(a, "TCK-(unclosed"));
  auto refused = d.ctl({"config", "set", bad});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("(400)") != std::string::npos);
  CHECK(refused.err.find("tickets") != std::string::npos);
  auto after = d.ctl({"config", "show", "--json"});
  REQUIRE(after.exit_code == 0);
  auto after_cfg = json::parse(after.out).as_object();
  CHECK(u64(after_cfg, "version") == version);
  CHECK(json::serialize(after_cfg.at("watch_paths")) == json::serialize(json::array{json::value(b)}));
  std::this_thread::sleep_for(1s);
  CHECK(reported_version(d, device) == version);

  // An unknown field is refused by name.
  spit(bad, R"({"watch_paths": ["/tmp"], "watch_path": ["/x"]})");
  auto unknown = d.ctl({"config", "set", bad});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("'watch_path'") != std::string::npos);
}

TEST_CASE("a config change reaches every connected agent; overrides and refusals are per device", "[config][e2e]") {
  Deployment d("e2e-config-fleet");
  d.start_collector();
  const std::string dir1 = d.enroll_agent("one"), dir2 = d.enroll_agent("two");
  const std::string dev1 = d.device_id(dir1), dev2 = d.device_id(dir2);
  const std::string w1 = d.dir() + "/w1", w2 = d.dir() + "/w2", shared = d.dir() + "/shared";
  for (const auto& p : {w1, w2, shared}) std::filesystem::create_directories(p);
  Process a1 = d.start_agent(dir1, {w1});
  Process a2 = d.start_agent(dir2, {w2});
  // Both connected (their Hello recorded a config version, 0).
  REQUIRE(eventually([&] {
    auto r1 = device_row(d, dev1), r2 = device_row(d, dev2);
    return r1 && r2 && !str(*r1, "config_reported").empty() && !str(*r2, "config_reported").empty();
  }, 20s));

  // One global change: both agents get it while connected.
  const std::string file = d.dir() + "/global.json";
  spit(file, R"({"watch_paths": [")" + shared + R"("]})");
  auto set = d.ctl({"config", "set", file, "--json"});
  REQUIRE(set.exit_code == 0);
  const std::uint64_t global = u64(json::parse(set.out).as_object(), "version");
  REQUIRE(eventually([&] { return reported_version(d, dev1) == global && reported_version(d, dev2) == global; }, 10s, 100ms));

  // An override for device 2 only.
  spit(file, R"({"watch_paths": [")" + w2 + R"("]})");
  set = d.ctl({"config", "set", file, "--device", dev2, "--json"});
  REQUIRE(set.exit_code == 0);
  const std::uint64_t own = u64(json::parse(set.out).as_object(), "version");
  REQUIRE(eventually([&] { return reported_version(d, dev2) == own; }, 10s, 100ms));
  CHECK(reported_version(d, dev1) == global);
  auto shown = d.ctl({"config", "show", "--device", dev2, "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(str(json::parse(shown.out).as_object(), "source") == "device");

  // A config the collector accepts but device 2 cannot run (no such path there): the agent
  // refuses it, keeps what it runs, and the refusal is visible per device.
  spit(file, R"({"watch_paths": ["/nonexistent/vigil-test-path"]})");
  set = d.ctl({"config", "set", file, "--device", dev2, "--json"});
  REQUIRE(set.exit_code == 0);
  const std::uint64_t refused = u64(json::parse(set.out).as_object(), "version");
  REQUIRE(eventually([&] {
    auto r = device_row(d, dev2);
    return r && u64(*r, "config_error_version") == refused;
  }, 10s, 100ms));
  auto row = device_row(d, dev2);
  CHECK(u64(*row, "config_version") == own);
  CHECK(str(*row, "config_error").find("watch_paths") != std::string::npos);
  CHECK(a2.running());

  // Removing the override: device 2 follows the global config again, under a newer version.
  auto reset = d.ctl({"config", "reset", "--device", dev2, "--json"});
  REQUIRE(reset.exit_code == 0);
  const std::uint64_t back = u64(json::parse(reset.out).as_object(), "version");
  CHECK(back > refused);
  REQUIRE(eventually([&] { return reported_version(d, dev2) == back; }, 10s, 100ms));
  row = device_row(d, dev2);
  CHECK(row->at("config_error").is_null());
  std::this_thread::sleep_for(1s);
  write_file(shared + "/both.txt", "both agents watch this now");
  REQUIRE(eventually([&] {
    return has_path(d.events(dev1), shared + "/both.txt") && has_path(d.events(dev2), shared + "/both.txt");
  }, 20s));
}

TEST_CASE("the collector pushes configs only to agents that understand them and records their answers", "[config][e2e]") {
  std::uint64_t version_seen = 0;
  Deployment d("e2e-config-wire");
  d.start_collector();
  const std::string adir = d.enroll_agent("wire");  // its identity; no agent process runs
  const std::string device = d.device_id(adir);
  const std::string file = d.dir() + "/c.json";
  spit(file, R"({"watch_paths": ["/srv"], "rules": [{"id": "tickets", "kind": "regex", "regex": "TCK-[0-9]+"}]})");
  auto set = d.ctl({"config", "set", file, "--json"});
  REQUIRE(set.exit_code == 0);
  const std::uint64_t version = u64(json::parse(set.out).as_object(), "version");

  TlsOptions opts{TlsRole::Client, slurp(d.ca()), slurp(adir + "/device.pem"), slurp(adir + "/device.key"),
                  ClientAuth::Required, "127.0.0.1"};
  auto cfg = TlsConfig::create(opts);
  REQUIRE(cfg.ok());
  auto hello = [](std::uint32_t protocol, std::uint64_t config_version) {
    v1::AgentMessage m;
    m.mutable_hello()->set_protocol_version(protocol);
    m.mutable_hello()->set_config_version(config_version);
    return m;
  };

  {
    INFO("an agent of protocol 1 does not know CollectionConfig: it is never sent one");
    WireClient c(d.ingest_port(), *cfg);
    REQUIRE(c.handshake());
    c.send(hello(1, 0));
    auto ack = c.next(5s);
    REQUIRE(ack);
    CHECK(ack->has_hello_ack());
    CHECK_FALSE(c.next(1500ms).has_value());
  }
  {
    INFO("protocol 2, behind: the config follows HelloAck; a refusal is recorded, bounded");
    WireClient c(d.ingest_port(), *cfg);
    REQUIRE(c.handshake());
    c.send(hello(2, 0));
    auto ack = c.next(5s);
    REQUIRE(ack);
    CHECK(ack->has_hello_ack());
    auto pushed = c.next(5s);
    REQUIRE(pushed);
    REQUIRE(pushed->has_config());
    CHECK(pushed->config().version() == version);
    CHECK(pushed->config().watch_paths(0) == "/srv");
    CHECK(pushed->config().rules(0).regex() == "TCK-[0-9]+");

    v1::AgentMessage answer;
    answer.mutable_config_applied()->set_version(version);
    answer.mutable_config_applied()->set_ok(false);
    answer.mutable_config_applied()->set_error("cannot apply\nsecond line " + std::string(4096, 'x'));
    c.send(answer);
    REQUIRE(eventually([&] {
      auto r = device_row(d, device);
      return r && u64(*r, "config_error_version") == version;
    }, 10s, 100ms));
    auto row = device_row(d, device);
    CHECK(str(*row, "config_error").rfind("cannot apply\nsecond line", 0) == 0);
    CHECK(str(*row, "config_error").size() == 1024);

    // A change while connected is pushed on the same connection.
    spit(file, R"({"watch_paths": ["/home"]})");
    set = d.ctl({"config", "set", file, "--json"});
    REQUIRE(set.exit_code == 0);
    const std::uint64_t newer = u64(json::parse(set.out).as_object(), "version");
    auto again = c.next(5s);
    REQUIRE(again);
    REQUIRE(again->has_config());
    CHECK(again->config().version() == newer);
    answer.mutable_config_applied()->set_version(newer);
    answer.mutable_config_applied()->set_ok(true);
    answer.mutable_config_applied()->clear_error();
    c.send(answer);
    REQUIRE(eventually([&] { return reported_version(d, device) == newer; }, 10s, 100ms));
    CHECK(device_row(d, device)->at("config_error").is_null());
    version_seen = newer;
  }
  {
    INFO("an agent already running the current version is sent nothing");
    WireClient c(d.ingest_port(), *cfg);
    REQUIRE(c.handshake());
    c.send(hello(2, version_seen));
    auto ack = c.next(5s);
    REQUIRE(ack);
    CHECK(ack->has_hello_ack());
    CHECK_FALSE(c.next(1500ms).has_value());
  }
}
