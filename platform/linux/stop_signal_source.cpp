#include "platform/linux/stop_signal_source.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/linux/proc_info.h"

namespace vigil::platform {

SignalfdStopSource::~SignalfdStopSource() {
  fd_.reset();
  if (masked_) ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Status SignalfdStopSource::start(const agent::StopSignalSpec&) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (int rc = ::pthread_sigmask(SIG_BLOCK, &set, &old_mask_); rc != 0)
    return err(std::string("pthread_sigmask: ") + std::strerror(rc));
  masked_ = true;
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) return err(std::string("signalfd: ") + std::strerror(errno));
  return {};
}

Result<agent::DrainStats> SignalfdStopSource::drain(const std::function<void(agent::StopRequest&&)>& sink) {
  agent::DrainStats stats;
  for (;;) {
    signalfd_siginfo si{};
    ssize_t n = ::read(fd_.get(), &si, sizeof si);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return err(std::string("signalfd read: ") + std::strerror(errno));
    }
    if (n != sizeof si) break;
    agent::StopRequest r;
    r.signal = static_cast<int>(si.ssi_signo);
    const char* abbrev = sigabbrev_np(r.signal);
    r.signal_name = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(r.signal);
    r.sender_pid = si.ssi_pid;
    r.sender_uid = si.ssi_uid;
    if (si.ssi_pid) r.sender_exe = read_exe(static_cast<pid_t>(si.ssi_pid));
    ++stats.activities;
    sink(std::move(r));
  }
  return stats;
}

}  // namespace vigil::platform

namespace vigil::agent {
std::unique_ptr<StopSignalSource> make_stop_signal_source() {
  return std::make_unique<platform::SignalfdStopSource>();
}
}  // namespace vigil::agent
