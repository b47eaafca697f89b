#include "platform/linux/security_source.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "platform/linux/proc_info.h"
#include "shared/log.h"

namespace vigil::platform {

namespace {
Status watch_fd(int epoll, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) return err(std::string("epoll_ctl: ") + std::strerror(errno));
  return {};
}
}  // namespace

Status SecuritySource::start(const agent::SecurityCaptureSpec& spec) {
  spec_ = spec;
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return err(std::string("epoll_create1: ") + std::strerror(errno));

  auto nft = std::make_unique<NftWatch>();
  if (auto s = nft->start(spec.netns_path); !s) {
    if (!spec.netns_path.empty()) return err("firewall watch in " + spec.netns_path + ": " + s.error());
    log::warn("security", "firewall changes not watched", {{"error", s.error()}});
  } else {
    if (auto w = watch_fd(epoll_.get(), nft->fd()); !w) return w;
    nft_ = std::move(nft);
  }

  // The agent's own files, symlinks resolved (the directory that changes is the real one's), and
  // the running binary itself, which only the platform can name.
  std::vector<std::string> agent_paths;
  auto add = [&](const std::string& p) {
    char* real = ::realpath(p.c_str(), nullptr);
    std::string r = real ? real : p;
    std::free(real);
    if (!r.empty() && std::find(agent_paths.begin(), agent_paths.end(), r) == agent_paths.end()) agent_paths.push_back(r);
  };
  for (const auto& p : spec.agent_paths) add(p);
  std::string self = read_exe(::getpid());
  if (!self.empty()) add(self);
  if (auto s = files_.start(spec.config_root.empty() ? "/" : spec.config_root, agent_paths); !s) return s;
  if (auto w = watch_fd(epoll_.get(), files_.fd()); !w) return w;

  state_ = read_security_state();
  timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_) return err(std::string("timerfd_create: ") + std::strerror(errno));
  std::int64_t ms = spec.recheck_interval_ms > 0 ? spec.recheck_interval_ms : 30000;
  itimerspec its{};
  its.it_interval.tv_sec = ms / 1000;
  its.it_interval.tv_nsec = (ms % 1000) * 1000000;
  its.it_value = its.it_interval;
  if (::timerfd_settime(timer_.get(), 0, &its, nullptr) != 0) return err(std::string("timerfd_settime: ") + std::strerror(errno));
  return watch_fd(epoll_.get(), timer_.get());
}

Result<agent::DrainStats> SecuritySource::drain(const std::function<void(agent::SecurityRecord&&)>& sink) {
  agent::DrainStats stats;
  auto counted = [&](agent::SecurityRecord&& r) {
    ++stats.activities;
    sink(std::move(r));
  };
  // The epoll set is level-triggered: it stops being readable once each fd below is drained.
  if (nft_) {
    auto c = nft_->drain(stats.overflows);
    if (!c) return err(c.error());
    if (*c) counted(agent::SecurityRecord(std::move(**c)));
  }
  if (auto s = files_.drain(counted, stats.overflows); !s) return err(s.error());
  std::uint64_t expirations = 0;
  bool timer = ::read(timer_.get(), &expirations, sizeof expirations) == sizeof expirations && expirations > 0;
  // State is read on every wake-up, not only the timer's: a watched change (auditd.conf, a new
  // AppArmor profile) often comes with a restart, and the read is cheap (one /proc pass).
  auto now = read_security_state();
  for (auto& c : diff_security_state(state_, now)) counted(agent::SecurityRecord(std::move(c)));
  state_ = std::move(now);
  if (timer) files_.recheck(counted);
  return stats;
}

}  // namespace vigil::platform

namespace vigil::agent {
std::unique_ptr<SecurityActivitySource> make_security_activity_source() {
  return std::make_unique<platform::SecuritySource>();
}
}  // namespace vigil::agent
