// How the audit log keeps a flood of unauthenticated requests from filling the disk: per remote
// host, the first 401 of a window is recorded, the rest of that window only counted, and the
// count is written as one summary record once the window is over.
//
// Promises:
// - At most one record per remote host per window, plus one summary when refusals were held
//   back; nothing is dropped silently: every refusal is either recorded or counted in a summary.
// - Memory is bounded: beyond max_hosts distinct hosts in open windows, further hosts share one
//   bucket ("*"), so a spoofed-address flood is counted, not remembered host by host.
// - Not thread-safe on its own: the AuditLog calls it under its lock.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vigil::collector::audit {

struct HeldBack {
  std::string host;
  std::int64_t count = 0;       // refusals not recorded individually
  std::int64_t first_ns = 0;    // when the window began
};

class RefusalLimiter {
 public:
  explicit RefusalLimiter(std::int64_t window_ns = 60'000'000'000LL, std::size_t max_hosts = 10000)
      : window_ns_(window_ns), max_hosts_(max_hosts) {}

  // A 401 from this host now: true when it is to be recorded (the first of a window).
  bool admit(const std::string& host, std::int64_t now_ns);
  // Windows that ended before now with refusals held back; they are forgotten once returned.
  std::vector<HeldBack> expired(std::int64_t now_ns);
  // Every window with refusals held back (at shutdown).
  std::vector<HeldBack> drain();

 private:
  struct Window {
    std::int64_t start_ns = 0;
    std::int64_t held = 0;
  };
  std::int64_t window_ns_;
  std::size_t max_hosts_;
  std::map<std::string, Window> windows_;
};

// "192.0.2.7:51234" → "192.0.2.7", "[2001:db8::1]:443" → "2001:db8::1": refusals are limited
// per host, since every new connection has a new port.
std::string host_of(const std::string& remote);

}  // namespace vigil::collector::audit
