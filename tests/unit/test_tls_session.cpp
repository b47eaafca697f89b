// TlsSession in memory: two real sessions (client and server) pumping bytes to each other.
#include <catch2/catch.hpp>

#include "shared/crypto.h"
#include "shared/pki.h"
#include "shared/tls_session.h"
#include "tests/unit/test_support.h"

#include <atomic>
#include <thread>
#include <vector>

using namespace vigil;
using State = TlsSession::State;

namespace {

using test::must;
using test::ParsedCert;

struct Identity {
  std::string cert;
  std::string key;
};

// One PKI for the whole file: key generation and signing are the slow part.
struct TestPki {
  pki::CertAuthority ca;
  pki::CertAuthority other_ca;
  Identity server;        // serverAuth, collector.test + 127.0.0.1
  Identity device;        // clientAuth, CN device-1
  Identity other_device;  // clientAuth, issued by other_ca
};

Identity device_identity(const pki::CertAuthority& ca, const std::string& id) {
  auto key = must(pki::generate_key_pem());
  auto csr = must(pki::make_csr(key, id));
  return {must(pki::sign_device_csr(ca, csr, id, 30)), key};
}

const TestPki& test_pki() {
  static const TestPki p = [] {
    TestPki t;
    t.ca = must(pki::create_ca("Vigil Test CA", 365));
    t.other_ca = must(pki::create_ca("Other CA", 365));
    t.server.key = must(pki::generate_key_pem());
    t.server.cert = must(pki::issue_server_cert(t.ca, t.server.key, "collector",
                                                {"collector.test", "127.0.0.1"}, 30));
    t.device = device_identity(t.ca, "device-1");
    t.other_device = device_identity(t.other_ca, "device-x");
    return t;
  }();
  return p;
}

std::shared_ptr<const TlsConfig> server_config(ClientAuth auth,
                                               const Identity& id = test_pki().server) {
  TlsOptions o;
  o.role = TlsRole::Server;
  o.ca_pem = test_pki().ca.cert_pem;
  o.cert_pem = id.cert;
  o.key_pem = id.key;
  o.client_auth = auth;
  return must(TlsConfig::create(o));
}

std::shared_ptr<const TlsConfig> client_config(const Identity* id,
                                               const std::string& server_name = "collector.test") {
  TlsOptions o;
  o.role = TlsRole::Client;
  o.ca_pem = test_pki().ca.cert_pem;
  if (id != nullptr) {
    o.cert_pem = id->cert;
    o.key_pem = id->key;
  }
  o.server_name = server_name;
  return must(TlsConfig::create(o));
}

// Drives both handshakes, moving bytes until neither side has anything left to say.
void run_handshake(TlsSession& client, TlsSession& server) {
  client.handshake();
  for (int round = 0; round < 20; ++round) {
    bool moved = false;
    if (client.has_output()) {
      server.feed(client.take_output());
      moved = true;
    }
    server.handshake();
    if (server.has_output()) {
      client.feed(server.take_output());
      moved = true;
    }
    client.handshake();
    if (!moved) break;
  }
}

// Moves `from`'s output to `to` and returns the plaintext `to` reads from it.
std::string deliver(TlsSession& from, TlsSession& to) {
  to.feed(from.take_output());
  auto r = to.read();
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return *r;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
  return s;
}

void put16(std::string& s, unsigned v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

// A ClientHello as an old TLS 1.0 (minor 1) or 1.1 (minor 2) client sends it: legacy RSA and
// CBC suites, no extensions.
std::string legacy_client_hello(unsigned minor) {
  std::string body;
  body.push_back(3);
  body.push_back(static_cast<char>(minor));
  body.append(32, '\x5a');  // client random
  body.push_back(0);        // no session id
  const unsigned suites[] = {0x002f, 0x0035, 0x000a, 0xc013};
  put16(body, sizeof suites / sizeof suites[0] * 2);
  for (unsigned s : suites) put16(body, s);
  body.push_back(1);  // one compression method: null
  body.push_back(0);
  std::string hs;
  hs.push_back(1);  // client_hello
  hs.push_back(0);
  put16(hs, static_cast<unsigned>(body.size()));
  hs += body;
  std::string record;
  record.push_back(0x16);  // handshake
  record.push_back(3);
  record.push_back(static_cast<char>(minor));
  put16(record, static_cast<unsigned>(hs.size()));
  return record + hs;
}

void put24(std::string& s, std::size_t v) {
  s.push_back(static_cast<char>(v >> 16));
  put16(s, static_cast<unsigned>(v & 0xffff));
}

// Rewrites a plaintext handshake flight so its Certificate message carries only `der`.
// mbedTLS 2.28 sends each handshake message in a record of its own, which keeps this simple.
std::string swap_certificate(const std::string& flight, const std::string& der) {
  std::string out;
  bool swapped = false;
  for (std::size_t at = 0; at + 5 <= flight.size();) {
    const std::size_t len = (std::size_t(std::uint8_t(flight[at + 3])) << 8) |
                            std::uint8_t(flight[at + 4]);
    const std::string header = flight.substr(at, 3);
    const std::string payload = flight.substr(at + 5, len);
    at += 5 + len;
    if (header[0] != 0x16 || payload.empty() || payload[0] != 11) {
      out += flight.substr(at - 5 - len, 5 + len);
      continue;
    }
    std::string msg;
    msg.push_back(11);  // certificate
    put24(msg, 3 + 3 + der.size());
    put24(msg, 3 + der.size());
    put24(msg, der.size());
    msg += der;
    out += header;
    put16(out, static_cast<unsigned>(msg.size()));
    out += msg;
    swapped = true;
  }
  REQUIRE(swapped);
  return out;
}

bool contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("mutual TLS: handshake, data both ways, close_notify", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(&test_pki().device));
  run_handshake(client, server);
  INFO("client: " << client.error() << " server: " << server.error());
  REQUIRE(client.state() == State::Open);
  REQUIRE(server.state() == State::Open);

  CHECK(client.protocol_version() == "TLSv1.2");
  CHECK(server.protocol_version() == "TLSv1.2");
  const std::string suite = client.cipher_suite();
  CHECK(suite == server.cipher_suite());
  CHECK(contains(suite, "ECDHE-ECDSA"));
  CHECK((contains(suite, "GCM") || contains(suite, "CHACHA20-POLY1305")));

  CHECK(server.peer_has_certificate());
  CHECK(server.peer_common_name() == "device-1");
  CHECK(client.peer_has_certificate());
  CHECK(client.peer_common_name() == "collector");

  REQUIRE(client.write("hello collector").ok());
  CHECK(deliver(client, server) == "hello collector");
  REQUIRE(server.write("hello device").ok());
  CHECK(deliver(server, client) == "hello device");

  // Far above the 16 KB record size, in both directions.
  const std::string big = pattern(1 << 20);
  REQUIRE(client.write(big).ok());
  CHECK(deliver(client, server) == big);
  REQUIRE(server.write(big).ok());
  CHECK(deliver(server, client) == big);

  // Several writes arrive as one read.
  REQUIRE(client.write("a").ok());
  REQUIRE(client.write("b").ok());
  CHECK(deliver(client, server) == "ab");
  CHECK(server.read()->empty());  // nothing new

  client.close();
  CHECK(client.state() == State::Closed);
  CHECK_FALSE(client.write("late").ok());
  CHECK(deliver(client, server).empty());
  CHECK(server.state() == State::Closed);
  server.close();  // answers with its own close_notify
  REQUIRE(server.has_output());
  CHECK(deliver(server, client).empty());
}

TEST_CASE("ciphertext arriving one byte at a time still completes", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(&test_pki().device));
  client.handshake();
  for (int round = 0; round < 20 && server.state() == State::Handshaking; ++round) {
    for (char c : client.take_output()) {
      server.feed(std::string_view(&c, 1));
      server.handshake();
    }
    for (char c : server.take_output()) {
      client.feed(std::string_view(&c, 1));
      client.handshake();
    }
  }
  INFO("client: " << client.error() << " server: " << server.error());
  REQUIRE(client.state() == State::Open);
  REQUIRE(server.state() == State::Open);

  REQUIRE(client.write("split").ok());
  std::string got;
  for (char c : client.take_output()) {
    server.feed(std::string_view(&c, 1));
    got += must(server.read());
  }
  CHECK(got == "split");
}

TEST_CASE("server requiring a client certificate refuses a client without one", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(nullptr));
  run_handshake(client, server);
  INFO("client: " << client.error() << "\nserver: " << server.error());
  REQUIRE(server.state() == State::Failed);
  CHECK(contains(server.error(), "no client certificate"));
  // The server said so, and the client fails with a message rather than waiting forever.
  REQUIRE(client.state() == State::Failed);
  CHECK(contains(client.error(), "server refused"));
}

TEST_CASE("optional client auth admits a client without a certificate", "[tls]") {
  TlsSession server(server_config(ClientAuth::Optional));
  TlsSession client(client_config(nullptr));
  run_handshake(client, server);
  INFO("client: " << client.error() << " server: " << server.error());
  REQUIRE(server.state() == State::Open);
  REQUIRE(client.state() == State::Open);
  CHECK_FALSE(server.peer_has_certificate());
  CHECK(server.peer_common_name().empty());
  REQUIRE(client.write("enroll me").ok());
  CHECK(deliver(client, server) == "enroll me");
}

TEST_CASE("optional client auth with a valid certificate reports it", "[tls]") {
  TlsSession server(server_config(ClientAuth::Optional));
  TlsSession client(client_config(&test_pki().device));
  run_handshake(client, server);
  REQUIRE(server.state() == State::Open);
  CHECK(server.peer_has_certificate());
  CHECK(server.peer_common_name() == "device-1");
}

TEST_CASE("no client auth: the server does not ask", "[tls]") {
  TlsSession server(server_config(ClientAuth::None));
  TlsSession client(client_config(&test_pki().device));
  run_handshake(client, server);
  REQUIRE(server.state() == State::Open);
  CHECK_FALSE(server.peer_has_certificate());
}

TEST_CASE("a client certificate from another CA is refused", "[tls]") {
  const auto auth = GENERATE(ClientAuth::Required, ClientAuth::Optional);
  TlsSession server(server_config(auth));
  TlsSession client(client_config(&test_pki().other_device));
  run_handshake(client, server);
  INFO("client: " << client.error() << "\nserver: " << server.error());
  REQUIRE(server.state() == State::Failed);
  CHECK(contains(server.error(), "client certificate rejected"));
  CHECK(contains(server.error(), "not correctly signed by the trusted CA"));
  CHECK_FALSE(server.peer_has_certificate());
  CHECK(client.state() == State::Failed);
}

TEST_CASE("a server certificate presented by a client is refused", "[tls]") {
  // Same CA, but serverAuth only: extended key usage keeps roles apart.
  const auto auth = GENERATE(ClientAuth::Required, ClientAuth::Optional);
  TlsSession server(server_config(auth));
  TlsSession client(client_config(&test_pki().server));
  run_handshake(client, server);
  INFO("client: " << client.error() << "\nserver: " << server.error());
  REQUIRE(server.state() == State::Failed);
  CHECK(contains(server.error(), "extendedKeyUsage"));
  CHECK(client.state() == State::Failed);
}

TEST_CASE("a client refuses a server with the wrong name", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(&test_pki().device, "elsewhere.test"));
  run_handshake(client, server);
  INFO("client: " << client.error() << "\nserver: " << server.error());
  REQUIRE(client.state() == State::Failed);
  CHECK(contains(client.error(), "server certificate rejected"));
  CHECK(contains(client.error(), "CN"));
  CHECK(server.state() != State::Open);
}

TEST_CASE("a client connecting by IP address accepts the server", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(&test_pki().device, "127.0.0.1"));
  run_handshake(client, server);
  INFO(client.error());
  CHECK(client.state() == State::Open);
}

TEST_CASE("a device certificate cannot be configured as a server certificate", "[tls]") {
  TlsOptions o;
  o.role = TlsRole::Server;
  o.ca_pem = test_pki().ca.cert_pem;
  o.cert_pem = test_pki().device.cert;
  o.key_pem = test_pki().device.key;
  auto cfg = TlsConfig::create(o);
  REQUIRE_FALSE(cfg.ok());
  CHECK(contains(cfg.error(), "serverAuth"));
}

TEST_CASE("a client refuses a device certificate acting as the server", "[tls]") {
  // mbedTLS will not serve a clientAuth-only certificate, so play a rogue server holding a
  // device's key: a real server flight whose Certificate message is swapped for the device
  // certificate (same key, so the ServerKeyExchange signature still verifies).
  const Identity& device = test_pki().device;
  Identity disguise{must(pki::issue_server_cert(test_pki().ca, device.key, "device-1",
                                                {"device-1"}, 30)),
                    device.key};
  TlsSession server(server_config(ClientAuth::None, disguise));
  TlsSession client(client_config(nullptr, "device-1"));
  client.handshake();
  server.feed(client.take_output());
  REQUIRE(server.handshake() == State::Handshaking);
  client.feed(swap_certificate(server.take_output(), ParsedCert(device.cert).der()));
  REQUIRE(client.handshake() == State::Failed);
  INFO(client.error());
  CHECK(contains(client.error(), "server certificate rejected"));
  CHECK(contains(client.error(), "extendedKeyUsage"));
  CHECK(client.has_output());  // an alert for the server
}

TEST_CASE("a client refuses a server whose CA it does not pin", "[tls]") {
  auto key = must(pki::generate_key_pem());
  Identity rogue{must(pki::issue_server_cert(test_pki().other_ca, key, "collector",
                                             {"collector.test"}, 30)),
                 key};
  TlsOptions o;
  o.role = TlsRole::Server;
  o.cert_pem = rogue.cert;
  o.key_pem = rogue.key;
  o.client_auth = ClientAuth::None;
  TlsSession server(must(TlsConfig::create(o)));
  TlsSession client(client_config(nullptr));
  run_handshake(client, server);
  INFO("client: " << client.error() << "\nserver: " << server.error());
  REQUIRE(client.state() == State::Failed);
  CHECK(contains(client.error(), "not correctly signed by the trusted CA"));
}

TEST_CASE("TLS 1.0 and 1.1 clients are refused with an alert", "[tls]") {
  const unsigned minor = GENERATE(1u, 2u);
  TlsSession server(server_config(ClientAuth::Required));
  server.feed(legacy_client_hello(minor));
  REQUIRE(server.handshake() == State::Failed);
  INFO(server.error());
  CHECK(contains(server.error(), "TLS 1.2"));
  REQUIRE(server.has_output());
  const std::string alert = server.take_output();
  REQUIRE(alert.size() >= 7);
  CHECK(alert[0] == 0x15);  // alert record
  CHECK(alert[5] == 2);     // fatal
}

TEST_CASE("a client offering only weak suites is refused", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  server.feed(legacy_client_hello(3));  // TLS 1.2 record, but RSA/CBC suites only
  REQUIRE(server.handshake() == State::Failed);
  INFO(server.error());
  CHECK(contains(server.error(), "cipher suite"));
  CHECK(server.has_output());
}

TEST_CASE("bytes that are not TLS fail the handshake without a crash", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  server.feed("GET / HTTP/1.1\r\nHost: collector\r\n\r\n");
  REQUIRE(server.handshake() == State::Failed);
  CHECK_FALSE(server.error().empty());
  CHECK_FALSE(server.read().ok());
  CHECK_FALSE(server.write("x").ok());

  TlsSession server2(server_config(ClientAuth::Required));
  server2.feed(std::string(4096, '\xab'));
  CHECK(server2.handshake() == State::Failed);

  // Random input, and random input behind a valid-looking record header, must never open.
  for (int i = 0; i < 200; ++i) {
    TlsSession s(server_config(ClientAuth::Required));
    std::string junk = crypto::random_bytes(1 + static_cast<std::size_t>(i) * 7);
    if (i % 2 == 1) junk = std::string("\x16\x03\x03\x00\x40\x01\x00\x00\x3c\x03\x03", 11) + junk;
    s.feed(junk);
    CHECK(s.handshake() != State::Open);
  }
}

TEST_CASE("garbage after the handshake fails the session", "[tls]") {
  TlsSession server(server_config(ClientAuth::Required));
  TlsSession client(client_config(&test_pki().device));
  run_handshake(client, server);
  REQUIRE(server.state() == State::Open);
  REQUIRE(client.write("payload").ok());
  std::string record = client.take_output();
  record[record.size() - 1] ^= 1;  // break the AEAD tag
  server.feed(record);
  auto r = server.read();
  REQUIRE_FALSE(r.ok());
  CHECK(server.state() == State::Failed);
  CHECK_FALSE(server.error().empty());
}

TEST_CASE("TLS configurations refuse incomplete or inconsistent options", "[tls]") {
  TlsOptions client;
  client.role = TlsRole::Client;
  client.ca_pem = test_pki().ca.cert_pem;
  CHECK_FALSE(TlsConfig::create(client).ok());  // no server name

  TlsOptions server;
  server.role = TlsRole::Server;
  server.ca_pem = test_pki().ca.cert_pem;
  CHECK_FALSE(TlsConfig::create(server).ok());  // no certificate
  server.cert_pem = test_pki().server.cert;
  server.key_pem = test_pki().device.key;
  auto mismatched = TlsConfig::create(server);
  REQUIRE_FALSE(mismatched.ok());
  CHECK(contains(mismatched.error(), "does not belong"));
  server.key_pem = "garbage";
  CHECK_FALSE(TlsConfig::create(server).ok());

  TlsSession orphan(nullptr);
  CHECK(orphan.state() == State::Failed);
  CHECK(orphan.handshake() == State::Failed);
}

TEST_CASE("sessions on many threads share one configuration", "[tls]") {
  auto server_cfg = server_config(ClientAuth::Required);
  auto client_cfg = client_config(&test_pki().device);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 4; ++i) {
        TlsSession server(server_cfg);
        TlsSession client(client_cfg);
        client.handshake();
        for (int round = 0; round < 20; ++round) {
          server.feed(client.take_output());
          server.handshake();
          client.feed(server.take_output());
          client.handshake();
        }
        if (client.state() != State::Open || server.state() != State::Open) continue;
        if (!client.write("ping").ok()) continue;
        server.feed(client.take_output());
        auto r = server.read();
        if (r.ok() && *r == "ping" && server.peer_common_name() == "device-1") ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok.load() == 32);
}
