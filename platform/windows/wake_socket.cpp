#include "platform/windows/wake_socket.h"

#include <winsock2.h>
#include <io.h>
#include <uv.h>

#include <mutex>

#include "platform/windows/win_util.h"

namespace vigil::win {

namespace {
// Winsock must be started before the first socket; libuv does it too, but sources may be made
// before the loop is. Never cleaned up: the process owns Winsock until it exits.
void ensure_winsock() {
  static std::once_flag once;
  std::call_once(once, [] {
    WSADATA d;
    WSAStartup(MAKEWORD(2, 2), &d);
  });
}
}  // namespace

Status WakeSocket::open() {
  ensure_winsock();
  uv_os_sock_t pair[2];
  if (int rc = uv_socketpair(SOCK_STREAM, 0, pair, 0, 0); rc != 0)
    return err(std::string("wake socket: ") + uv_strerror(rc));
  read_ = static_cast<unsigned long long>(pair[0]);
  write_ = static_cast<unsigned long long>(pair[1]);
  u_long nonblocking = 1;
  ioctlsocket(static_cast<SOCKET>(read_), FIONBIO, &nonblocking);
  ioctlsocket(static_cast<SOCKET>(write_), FIONBIO, &nonblocking);
  fd_ = _open_osfhandle(static_cast<intptr_t>(read_), 0);
  if (fd_ < 0) return err("wake socket: no CRT descriptor for the socket");
  return {};
}

WakeSocket::~WakeSocket() {
  if (write_ != ~0ull) closesocket(static_cast<SOCKET>(write_));
  if (read_ != ~0ull) closesocket(static_cast<SOCKET>(read_));
  // The socket is closed above (sockets must be closed with closesocket); _close then only
  // releases the CRT slot, and its failure to close the already closed handle is expected.
  if (fd_ >= 0) _close(fd_);
}

void WakeSocket::signal() {
  const char b = 1;
  send(static_cast<SOCKET>(write_), &b, 1, 0);
}

void WakeSocket::clear() {
  char buf[256];
  while (recv(static_cast<SOCKET>(read_), buf, sizeof buf, 0) > 0) {
  }
}

}  // namespace vigil::win
