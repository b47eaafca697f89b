// TlsSession: TLS 1.2 over mbedTLS that does no I/O itself (in the style of rustls).
//
// The owner of the socket moves bytes: received ciphertext goes in with feed(), bytes to send
// come out of take_output(). The session never blocks and never touches a file descriptor, so the
// same code is driven by libuv on the agent and by Asio on the collector and API.
//
// Promises:
// - Only TLS 1.2 is negotiated, only ECDHE key exchange with AEAD suites (AES-GCM, ChaCha20-
//   Poly1305). Anything older or weaker fails the handshake with a message saying so.
// - A client verifies the server's chain against the pinned CA and the server name; a server
//   with ClientAuth::Required refuses a client without a certificate or with one its CA did not
//   issue; with ClientAuth::Optional it accepts a client without one (peer_has_certificate()
//   tells) but still refuses an invalid one.
// - A TlsConfig is immutable after creation and may be shared by sessions on many threads; one
//   TlsSession is used by one thread at a time.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil {

enum class TlsRole { Client, Server };
enum class ClientAuth { None, Optional, Required };

struct TlsOptions {
  TlsRole role = TlsRole::Client;
  std::string ca_pem;         // trust anchor: the collector's CA
  std::string cert_pem;       // own certificate (server always; client for mutual TLS)
  std::string key_pem;        // own private key
  ClientAuth client_auth = ClientAuth::Required;  // server only
  std::string server_name;    // client only: name to verify in the server certificate
};

class TlsConfig {
 public:
  static Result<std::shared_ptr<const TlsConfig>> create(const TlsOptions& options);
  ~TlsConfig();
  TlsConfig(const TlsConfig&) = delete;
  TlsConfig& operator=(const TlsConfig&) = delete;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit TlsConfig(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TlsSession {
 public:
  enum class State { Handshaking, Open, Closed, Failed };

  explicit TlsSession(std::shared_ptr<const TlsConfig> config);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Ciphertext received from the peer.
  void feed(std::string_view ciphertext);
  // Ciphertext to send to the peer; empty when there is nothing to send.
  std::string take_output();
  bool has_output() const;

  // Advances the handshake with what has been fed; returns the new state. Call after every feed()
  // while Handshaking, then send take_output().
  State handshake();
  State state() const;

  // Encrypts application data into the output buffer. Only when Open.
  Status write(std::string_view plaintext);
  // Decrypts all plaintext available from what has been fed (may be empty). On close_notify the
  // state becomes Closed; on an alert or a bad record it becomes Failed and an error is returned.
  Result<std::string> read();
  // Queues close_notify.
  void close();

  // Why the session failed (handshake or record error), in words a log reader understands.
  const std::string& error() const;
  // After the handshake: whether the peer sent a certificate (which then verified), and its CN.
  bool peer_has_certificate() const;
  std::string peer_common_name() const;
  std::string cipher_suite() const;
  std::string protocol_version() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
