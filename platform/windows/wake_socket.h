// WakeSocket: what a Windows capture source hands the agent as its pollable_fd(). libuv on
// Windows can poll only sockets (uv_poll_init maps a CRT descriptor back to its SOCKET), so each
// source's worker thread, which waits on the real Win32 handles (directory changes, registry
// notifications, the spooler), wakes the agent's loop by writing a byte to a loopback socket
// pair; the read end, wrapped as a CRT descriptor, is what uv_poll watches.
// Promises: fd() is readable while signal() has been called since the last clear(); signal() never
// blocks (a full socket buffer means it is readable already); both ends close with the object.
#pragma once
#include <string>

#include "shared/result.h"

namespace vigil::win {

class WakeSocket {
 public:
  WakeSocket() = default;
  WakeSocket(const WakeSocket&) = delete;
  WakeSocket& operator=(const WakeSocket&) = delete;
  ~WakeSocket();

  Status open();
  int fd() const { return fd_; }
  void signal();
  void clear();

 private:
  unsigned long long read_ = ~0ull;   // SOCKET
  unsigned long long write_ = ~0ull;  // SOCKET
  int fd_ = -1;
};

}  // namespace vigil::win
