// Hostile and broken peers against a real collector while a healthy agent keeps delivering.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "shared/batch_codec.h"
#include "shared/framing.h"
#include "shared/pki.h"
#include "shared/tls_session.h"
#include "tests/integration/harness.h"
#include "vigil.pb.h"

using namespace vigil;
using namespace vigil::testing;
using namespace std::chrono_literals;

namespace {

struct Socket {
  int fd = -1;
  explicit Socket(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) { ::close(fd); fd = -1; }
  }
  ~Socket() { if (fd >= 0) ::close(fd); }
  void send_all(const std::string& b) {
    std::size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  // Bytes received within the timeout; empty string on EOF/timeout.
  std::string recv_some(std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  // True when the peer closed within the timeout (reading and discarding anything first).
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }
};

// A TLS client over a blocking socket, as a hostile or well-behaved agent would speak.
struct TlsClient {
  Socket sock;
  TlsSession tls;
  TlsClient(std::uint16_t port, std::shared_ptr<const TlsConfig> cfg) : sock(port), tls(std::move(cfg)) {}
  bool handshake() {
    for (int i = 0; i < 200; ++i) {
      auto st = tls.handshake();
      if (tls.has_output()) sock.send_all(tls.take_output());
      if (st == TlsSession::State::Open) return true;
      if (st != TlsSession::State::Handshaking) return false;
      auto in = sock.recv_some(5s);
      if (in.empty()) return false;
      tls.feed(in);
    }
    return false;
  }
  void send_plain(const std::string& bytes) {
    REQUIRE(tls.write(bytes).ok());
    sock.send_all(tls.take_output());
  }
  // Next CollectorMessage, or nullopt if the connection ended first.
  std::optional<v1::CollectorMessage> next_message(FrameDecoder& dec) {
    for (int i = 0; i < 100; ++i) {
      auto f = dec.next();
      if (f.ok() && f->has_value()) {
        v1::CollectorMessage m;
        if (m.ParseFromString(**f)) return m;
        return std::nullopt;
      }
      auto in = sock.recv_some(5s);
      if (in.empty()) return std::nullopt;
      tls.feed(in);
      auto plain = tls.read();
      if (!plain.ok()) return std::nullopt;
      dec.feed(*plain);
    }
    return std::nullopt;
  }
};

std::string legacy_client_hello(unsigned char minor) {
  std::string body;
  body += '\x03';
  body += static_cast<char>(minor);
  body += std::string(32, '\x11');           // random
  body += '\x00';                           // session id
  body += std::string("\x00\x04\x00\x2f\x00\x35", 6);  // two RSA-AES-CBC suites
  body += std::string("\x01\x00", 2);       // null compression
  std::string hs;
  hs += '\x01';
  hs += '\x00';
  hs += static_cast<char>(body.size() >> 8);
  hs += static_cast<char>(body.size() & 0xff);
  hs += body;
  std::string rec = std::string("\x16\x03", 2) + static_cast<char>(minor);
  rec += static_cast<char>(hs.size() >> 8);
  rec += static_cast<char>(hs.size() & 0xff);
  return rec + hs;
}

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  std::size_t p = 0;
  while ((p = text.find(needle, p)) != std::string::npos) { ++n; p += needle.size(); }
  return n;
}

v1::EventBatch batch_for(const std::string& device, std::uint64_t first, int n) {
  v1::EventBatch b;
  b.set_schema_version(1);
  b.set_device_id(device);
  b.set_first_seq(first);
  b.set_last_seq(first + n - 1);
  for (int i = 0; i < n; ++i) {
    auto* e = b.add_events();
    e->set_seq(first + i);
    e->set_type("file.create");
    e->mutable_file()->set_path("/hostile/" + std::to_string(i));
  }
  return b;
}

std::string batch_frame(std::uint64_t first, std::uint64_t last, const std::string& payload) {
  v1::AgentMessage m;
  auto* f = m.mutable_batch();
  f->set_first_seq(first);
  f->set_last_seq(last);
  f->set_event_count(static_cast<std::uint32_t>(last - first + 1));
  f->set_zstd_payload(payload);
  return encode_frame(m.SerializeAsString());
}

}  // namespace

TEST_CASE("hostile peers are refused one by one while a healthy agent keeps delivering", "[e2e][hostile]") {
  Deployment d("e2e-hostile");
  d.start_collector();
  std::string healthy = d.enroll_agent("healthy");
  std::string victim = d.enroll_agent("identity");  // its certificate is used by the hostile client
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  Process agent = d.start_agent(healthy, {watched});
  std::string device = d.device_id(healthy);
  std::this_thread::sleep_for(1000ms);

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread producer([&] {
    while (!stop) {
      std::ofstream(watched + "/h" + std::to_string(written.load())) << "x";
      written++;
      std::this_thread::sleep_for(20ms);
    }
  });

  const auto ingest = d.ingest_port();
  auto read = [](const std::string& p) { return slurp(p); };
  TlsOptions with_cert{TlsRole::Client, read(d.ca()), read(victim + "/device.pem"), read(victim + "/device.key"), ClientAuth::Required, "127.0.0.1"};
  auto device_cfg = TlsConfig::create(with_cert);
  REQUIRE(device_cfg.ok());
  int expected_refusals = 0, expected_rejections = 0;

  {
    INFO("garbage instead of a TLS hello");
    Socket s(ingest);
    s.send_all(std::string(300, '\x42'));
    CHECK(s.closed_by_peer(5s));
    expected_refusals++;
  }
  for (unsigned char minor : {1, 2}) {
    INFO("TLS 1." << int(minor - 1) << " ClientHello");
    Socket s(ingest);
    s.send_all(legacy_client_hello(minor));
    auto reply = s.recv_some(5s);
    // An alert record (type 21) or a plain close; never a ServerHello.
    CHECK((reply.empty() || reply[0] == '\x15'));
    CHECK(s.closed_by_peer(5s));
    expected_refusals++;
  }
  {
    INFO("client without a certificate trying to send data");
    TlsOptions nocert{TlsRole::Client, read(d.ca()), "", "", ClientAuth::Required, "127.0.0.1"};
    TlsClient c(ingest, *TlsConfig::create(nocert));
    REQUIRE(c.handshake());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_protocol_version(1);
    c.send_plain(encode_frame(hello.SerializeAsString()));
    FrameDecoder dec(1 << 20);
    auto m = c.next_message(dec);
    REQUIRE(m.has_value());
    CHECK(m->error().code() == "unauthenticated");
    expected_refusals++;
  }
  {
    INFO("client certificate from another CA");
    auto other_ca = pki::create_ca("Mallory CA", 1);
    auto key = pki::generate_key_pem();
    auto csr = pki::make_csr(*key, "x");
    auto cert = pki::sign_device_csr(*other_ca, *csr, "dev-mallory", 1);
    TlsOptions forged{TlsRole::Client, read(d.ca()), *cert, *key, ClientAuth::Required, "127.0.0.1"};
    TlsClient c(ingest, *TlsConfig::create(forged));
    bool ok = c.handshake();
    if (ok) {  // TLS 1.2 client auth may finish on the client's side before the server's verdict
      FrameDecoder dec(1 << 20);
      v1::AgentMessage hello;
      hello.mutable_hello()->set_protocol_version(1);
      c.send_plain(encode_frame(hello.SerializeAsString()));
      CHECK_FALSE(c.next_message(dec).has_value());
    }
    expected_refusals++;
  }
  auto hostile_session = [&](auto&& body) {
    TlsClient c(ingest, *device_cfg);
    REQUIRE(c.handshake());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_protocol_version(1);
    c.send_plain(encode_frame(hello.SerializeAsString()));
    FrameDecoder dec(1 << 20);
    auto ack = c.next_message(dec);
    REQUIRE(ack.has_value());
    REQUIRE(ack->has_hello_ack());
    body(c, dec);
  };
  {
    INFO("frame header announcing 1 GB");
    hostile_session([&](TlsClient& c, FrameDecoder& dec) {
      c.send_plain(std::string("\x40\x00\x00\x00", 4));
      auto m = c.next_message(dec);
      REQUIRE(m.has_value());
      CHECK(m->error().code() == "bad_frame");
      CHECK(m->error().message().find("exceeds the limit") != std::string::npos);
    });
    expected_refusals++;
  }
  {
    INFO("a frame that is not a protobuf message");
    hostile_session([&](TlsClient& c, FrameDecoder& dec) {
      c.send_plain(encode_frame("\xff\xff\xff\xff\xff\xff not protobuf"));
      auto m = c.next_message(dec);
      REQUIRE(m.has_value());
      CHECK(m->error().code() == "bad_frame");
    });
    expected_refusals++;
  }
  std::string victim_id = d.device_id(victim);
  {
    INFO("zstd bomb and invalid payload in valid frames are rejected, the session stays usable");
    hostile_session([&](TlsClient& c, FrameDecoder& dec) {
      std::string bomb = zstd_compress(std::string(200u << 20, '\0'), 1);
      c.send_plain(batch_frame(1, 1, bomb));
      auto a = c.next_message(dec);
      REQUIRE(a.has_value());
      CHECK(a->ack().status() == v1::Ack::REJECTED);
      CHECK(a->ack().error().find("limit") != std::string::npos);
      c.send_plain(batch_frame(1, 1, zstd_compress("\x08\x96\x01 definitely not an EventBatch \xff")));
      auto b = c.next_message(dec);
      REQUIRE(b.has_value());
      CHECK(b->ack().status() == v1::Ack::REJECTED);
      // A valid batch on the same connection is still accepted.
      c.send_plain(batch_frame(1, 3, encode_batch(batch_for(victim_id, 1, 3))));
      auto ok = c.next_message(dec);
      REQUIRE(ok.has_value());
      CHECK(ok->ack().status() == v1::Ack::OK);
      // Replaying it is harmless.
      c.send_plain(batch_frame(1, 3, encode_batch(batch_for(victim_id, 1, 3))));
      auto dup = c.next_message(dec);
      REQUIRE(dup.has_value());
      CHECK(dup->ack().status() == v1::Ack::DUPLICATE);
      // A batch claiming another device's identity is refused.
      c.send_plain(batch_frame(4, 4, encode_batch(batch_for(device, 4, 1))));
      auto spoof = c.next_message(dec);
      REQUIRE(spoof.has_value());
      CHECK(spoof->ack().status() == v1::Ack::REJECTED);
    });
    expected_rejections += 3;
  }

  // Meanwhile the healthy agent's files kept arriving.
  std::this_thread::sleep_for(500ms);
  stop = true;
  producer.join();
  int n = written.load();
  bool all = eventually([&] {
    std::set<std::string> paths;
    for (auto& e : d.events(device, "file.create")) paths.insert(std::string(e.at("path").as_string()));
    return paths.size() == static_cast<std::size_t>(n);
  }, 30s);
  CHECK(all);
  CHECK(d.collector().running());

  std::string log = slurp(d.collector().log_path());
  INFO("collector log:\n" << log);
  CHECK(count_lines_with(log, "msg=\"connection refused\"") == expected_refusals);
  CHECK(count_lines_with(log, "msg=\"batch rejected\"") == expected_rejections);
  // Each refusal and rejection is one line that carries its reason.
  CHECK(count_lines_with(log, " reason=") == expected_refusals + expected_rejections);
}
