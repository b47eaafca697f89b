// UvTlsStream: one TCP connection on the agent's libuv loop, with the sans-IO TlsSession doing
// the cryptography and length-prefixed framing on top. Used by enrollment and by the uploader.
//
// Promises:
// - Exactly one of the callbacks on_open/on_close ends the connect attempt; after on_close no
//   other callback runs. Connect, handshake and silence are bounded by timeouts.
// - The object may be destroyed at any time (even inside a callback); libuv handles are released
//   asynchronously by their own close callbacks, never leaked or used after free.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "shared/tls_session.h"

namespace vigil::agent {

class UvTlsStream {
 public:
  struct Callbacks {
    std::function<void()> on_open;                       // TLS established
    std::function<void(std::string frame)> on_frame;     // one whole frame
    std::function<void(const std::string& reason)> on_close;
  };

  UvTlsStream(uv_loop_t* loop, std::shared_ptr<const TlsConfig> tls, Callbacks callbacks,
              std::uint64_t timeout_ms = 15000);
  ~UvTlsStream();
  UvTlsStream(const UvTlsStream&) = delete;
  UvTlsStream& operator=(const UvTlsStream&) = delete;

  void connect(const std::string& host, std::uint16_t port);
  void send_frame(std::string_view payload);
  // Timeout for silence once open (0 = none); reset on every received byte.
  void set_idle_timeout(std::uint64_t ms);
  void close(const std::string& reason);
  bool is_open() const;
  std::string peer_name() const;
  std::size_t pending_write_bytes() const;

  struct Conn;

 private:
  Conn* conn_;  // owned; handed to libuv's close callbacks on teardown
};

// Splits "host:port" (also "[v6]:port"); default_port when no port is given.
bool split_host_port(const std::string& text, std::uint16_t default_port, std::string& host, std::uint16_t& port);

}  // namespace vigil::agent
