// StopRequestSource: requests to stop the agent on Windows, with what sent them, so the agent
// records agent.tamper before it stops (as the Linux signalfd source does for SIGTERM).
// Senders: the Service Control Manager (SERVICE_CONTROL_STOP / SHUTDOWN, from service_host.cpp)
// arrive as SIGTERM; the console (Ctrl+C, Ctrl+Break, closing the window) as SIGINT.
// request_stop() is process-wide and may be called from any thread, before or after the source
// starts: a request made before start() is delivered by the first drain() after it.
#pragma once
#include <string>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"

namespace vigil::win {

void request_stop(int signal, const std::string& name, const std::string& sender);

class StopRequestSource final : public agent::StopSignalSource {
 public:
  StopRequestSource() = default;
  ~StopRequestSource() override;
  Status start(const agent::StopSignalSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::StopRequest&&)>& sink) override;

  void deliver(agent::StopRequest&& r) { queue_.push(std::move(r)); }

 private:
  RecordQueue<agent::StopRequest> queue_;
};

}  // namespace vigil::win
