// StopSignalSource: agent::StopSignalSource on Linux, from a signalfd.
//
// Promises:
//  - start() blocks SIGTERM, SIGINT and SIGHUP in the calling thread (pthread_sigmask) and reads
//    them from a signalfd instead. Threads inherit the mask of the thread that creates them, so
//    the source must be started before any other thread exists; a thread created earlier with
//    the signals unblocked could take one, and it would never reach the signalfd;
//  - each request says who sent it: the kernel's ssi_pid / ssi_uid, and the sender's executable
//    from /proc/<pid>/exe when it is still there (empty when it exited or was the kernel: pid 0);
//  - the destructor closes the signalfd and restores the signal mask start() changed (a signal
//    still pending then is delivered as usual: drain before destroying).
// Not thread-safe.
#pragma once
#include <signal.h>

#include "agent/capture.h"
#include "platform/linux/unique_fd.h"

namespace vigil::platform {

class SignalfdStopSource : public agent::StopSignalSource {
 public:
  ~SignalfdStopSource() override;
  Status start(const agent::StopSignalSpec& spec) override;
  int pollable_fd() const override { return fd_.get(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::StopRequest&&)>& sink) override;

 private:
  UniqueFd fd_;
  sigset_t old_mask_{};
  bool masked_ = false;
};

}  // namespace vigil::platform
