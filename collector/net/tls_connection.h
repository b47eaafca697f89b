// TlsConnection: one accepted TCP socket driven by Asio C++20 coroutines, with a sans-IO
// TlsSession (shared/tls_session.h) doing the cryptography. Used by the agent ingest port and the
// HTTPS API alike.
//
// Promises:
// - Every operation is bounded by an idle deadline: a peer that stops sending (slowloris, a half
//   handshake) has its socket closed when the deadline passes, without touching other peers.
// - read_some() returns plaintext, or an empty string once the peer closed cleanly; errors are
//   values carrying the TLS or socket reason.
// - Not thread-safe: the coroutines using a connection must share one strand (or one thread).
//   On that strand, one coroutine may read while others write (ingest acks batches and pushes
//   collection configs): writes are serialized, one socket write at a time, in the order the
//   TLS records were made.
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "shared/result.h"
#include "shared/tls_session.h"

namespace vigil::collector {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class TlsConnection {
 public:
  TlsConnection(tcp::socket socket, std::shared_ptr<const TlsConfig> config,
                std::chrono::steady_clock::duration idle_timeout);
  ~TlsConnection();

  // Starts the idle watchdog; call once, from the connection's executor.
  void start_watchdog();
  asio::awaitable<Status> handshake();
  asio::awaitable<Result<std::string>> read_some();
  asio::awaitable<Status> write(std::string_view plaintext);
  // Sends close_notify (best effort) and closes the socket.
  asio::awaitable<void> close();

  TlsSession& tls() { return tls_; }
  const std::string& peer() const { return peer_; }
  // Zero for a peer that connected and left without a byte (port probes, health checks).
  std::uint64_t bytes_received() const { return bytes_received_; }
  void set_idle_timeout(std::chrono::steady_clock::duration d) { idle_ = d; }
  // Pushes the deadline out while the server itself is busy for this peer (a long query), so
  // the watchdog does not close a connection that is waiting on us rather than on the peer.
  void hold_for(std::chrono::steady_clock::duration d) { deadline_->expires_after(d); }

 private:
  asio::awaitable<Status> flush();
  asio::awaitable<Result<std::size_t>> receive();
  void touch();

  tcp::socket socket_;
  TlsSession tls_;
  std::chrono::steady_clock::duration idle_;
  std::shared_ptr<asio::steady_timer> deadline_;
  std::string peer_;
  bool timed_out_ = false;
  bool flushing_ = false;               // a coroutine is writing to the socket
  asio::steady_timer flush_done_;       // never expires; cancelled when a flush ends
  std::string write_error_;             // the first failed write: later writes fail the same way
  std::uint64_t bytes_received_ = 0;
  char buf_[32768];
};

}  // namespace vigil::collector
