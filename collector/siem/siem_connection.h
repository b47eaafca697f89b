// SiemConnection: one TLS connection to the SIEM's syslog receiver over a blocking-with-timeouts
// TCP socket, driving the project's TlsSession (shared/tls_session.h).
//
// Promises:
// - connect() verifies the receiver's certificate against the configured CA and server_name
//   (TlsSession does); a failure says which step failed (resolve, connect, handshake).
// - delivered() reports true only once the kernel says the peer's TCP stack has acknowledged
//   every byte written (SIOCOUTQ is 0): that, not a successful write(), is when the forwarder
//   moves its cursor, so bytes lost with a receiver that went away are sent again.
// - peer_gone() notices a receiver that closed or reset the connection without writing to it.
// - The socket is closed exactly once (RAII); every wait is bounded by a timeout.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "shared/result.h"
#include "shared/tls_session.h"

namespace vigil::collector::siem {

class SiemConnection {
 public:
  static Result<std::unique_ptr<SiemConnection>> connect(const std::string& host, std::uint16_t port,
                                                         std::shared_ptr<const TlsConfig> tls,
                                                         std::chrono::milliseconds timeout);
  ~SiemConnection();
  SiemConnection(const SiemConnection&) = delete;
  SiemConnection& operator=(const SiemConnection&) = delete;

  // Encrypts and writes all of bytes.
  Status send(std::string_view bytes, std::chrono::milliseconds timeout);
  // Waits until the peer acknowledged everything sent; an error when it went away or the time ran out.
  Status delivered(std::chrono::milliseconds timeout);
  bool peer_gone();

 private:
  SiemConnection(int fd, std::shared_ptr<const TlsConfig> tls);
  Status flush(std::chrono::steady_clock::time_point deadline);
  Status pump_in(std::chrono::steady_clock::time_point deadline);
  int fd_;
  TlsSession tls_;
};

}  // namespace vigil::collector::siem
