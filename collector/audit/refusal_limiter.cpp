#include "collector/audit/refusal_limiter.h"

namespace vigil::collector::audit {

namespace {
const std::string kOverflowBucket = "*";
}

bool RefusalLimiter::admit(const std::string& host, std::int64_t now_ns) {
  auto it = windows_.find(host);
  if (it == windows_.end() && windows_.size() >= max_hosts_) {
    // Too many hosts in open windows: count in the shared bucket instead of remembering this one.
    auto& shared = windows_[kOverflowBucket];
    if (shared.start_ns == 0 || now_ns - shared.start_ns >= window_ns_) {
      shared.start_ns = now_ns;
      return true;
    }
    ++shared.held;
    return false;
  }
  if (it == windows_.end() || now_ns - it->second.start_ns >= window_ns_) {
    // A new window. A previous one with refusals held back is reported by expired() first (the
    // AuditLog calls it before admit), so it is safe to start over here.
    windows_[host] = Window{now_ns, 0};
    return true;
  }
  ++it->second.held;
  return false;
}

std::vector<HeldBack> RefusalLimiter::expired(std::int64_t now_ns) {
  std::vector<HeldBack> out;
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (now_ns - it->second.start_ns >= window_ns_) {
      if (it->second.held > 0) out.push_back({it->first, it->second.held, it->second.start_ns});
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<HeldBack> RefusalLimiter::drain() {
  std::vector<HeldBack> out;
  for (const auto& [host, w] : windows_)
    if (w.held > 0) out.push_back({host, w.held, w.start_ns});
  windows_.clear();
  return out;
}

std::string host_of(const std::string& remote) {
  if (!remote.empty() && remote.front() == '[') {
    auto close = remote.find(']');
    return close == std::string::npos ? remote : remote.substr(1, close - 1);
  }
  auto colon = remote.rfind(':');
  // One colon: IPv4 with a port. More: a bare IPv6 address, kept whole.
  if (colon != std::string::npos && remote.find(':') == colon) return remote.substr(0, colon);
  return remote;
}

}  // namespace vigil::collector::audit
