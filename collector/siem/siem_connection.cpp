#include "collector/siem/siem_connection.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace vigil::collector::siem {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

SiemConnection::SiemConnection(int fd, std::shared_ptr<const TlsConfig> tls) : fd_(fd), tls_(std::move(tls)) {}

SiemConnection::~SiemConnection() {
  if (tls_.state() == TlsSession::State::Open) {
    tls_.close();
    (void)flush(Clock::now() + std::chrono::milliseconds(200));
  }
  ::close(fd_);
}

Result<std::unique_ptr<SiemConnection>> SiemConnection::connect(const std::string& host, std::uint16_t port,
                                                               std::shared_ptr<const TlsConfig> tls,
                                                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return err("resolving " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = errno_text();
      continue;
    }
    std::unique_ptr<SiemConnection> c(new SiemConnection(fd, tls));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = errno_text();
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      last_error = "timed out";
      continue;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      last_error = std::strerror(so_error);
      continue;
    }
    // TLS handshake, bounded by the same deadline.
    for (;;) {
      auto st = c->tls_.handshake();
      if (auto s = c->flush(deadline); !s) return err("TLS handshake with " + where + ": " + s.error());
      if (st == TlsSession::State::Open) return c;
      if (st != TlsSession::State::Handshaking)
        return err("TLS handshake with " + where + " failed: " + c->tls_.error());
      if (auto s = c->pump_in(deadline); !s) return err("TLS handshake with " + where + ": " + s.error());
    }
  }
  return err("connecting to " + where + ": " + last_error);
}

Status SiemConnection::flush(Clock::time_point deadline) {
  std::string out = tls_.take_output();
  std::size_t at = 0;
  while (at < out.size()) {
    ssize_t n = ::send(fd_, out.data() + at, out.size() - at, MSG_NOSIGNAL);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return err("write: " + errno_text());
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) return err("write timed out");
  }
  return {};
}

// Reads what has arrived (waiting for something until the deadline) and feeds it to TLS.
Status SiemConnection::pump_in(Clock::time_point deadline) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, remaining_ms(deadline)) != 1) return err("timed out waiting for the peer");
  char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n == 0) return err("the peer closed the connection");
  if (n < 0) return errno == EAGAIN || errno == EINTR ? Status{} : err("read: " + errno_text());
  tls_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  return {};
}

Status SiemConnection::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  if (tls_.state() != TlsSession::State::Open) return err("the connection is not open");
  // TLS records carry at most 16 KiB; writing in slices keeps the output buffer small too.
  constexpr std::size_t kSlice = 16384;
  const auto deadline = Clock::now() + timeout;
  for (std::size_t at = 0; at < bytes.size(); at += kSlice) {
    if (auto s = tls_.write(bytes.substr(at, kSlice)); !s) return s;
    if (auto s = flush(deadline); !s) return s;
  }
  return {};
}

bool SiemConnection::peer_gone() {
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 0);
    if (r == 0) return false;
    if (r < 0) return true;
    if (p.revents & (POLLERR | POLLHUP)) return true;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return !(errno == EAGAIN || errno == EINTR);
    tls_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    auto plain = tls_.read();  // a syslog receiver sends nothing; close_notify or an alert ends it
    if (!plain || tls_.state() != TlsSession::State::Open) return true;
  }
}

Status SiemConnection::delivered(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int queued = 0;
    if (::ioctl(fd_, SIOCOUTQ, &queued) != 0) return err("SIOCOUTQ: " + errno_text());
    if (queued == 0) return {};
    if (peer_gone()) return err("the receiver went away with " + std::to_string(queued) + " bytes unacknowledged");
    if (Clock::now() >= deadline)
      return err(std::to_string(queued) + " bytes still unacknowledged by the receiver after " +
                 std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace vigil::collector::siem
