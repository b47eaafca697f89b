#include "platform/windows/stop_request_source.h"

#include <csignal>
#include <mutex>
#include <vector>

#include "platform/windows/win_util.h"

namespace vigil::win {

namespace {
std::mutex g_mu;
StopRequestSource* g_sink = nullptr;
std::vector<agent::StopRequest> g_pending;

BOOL WINAPI on_console_ctrl(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT: request_stop(SIGINT, "CTRL_C_EVENT", "console"); return TRUE;
    case CTRL_BREAK_EVENT: request_stop(SIGINT, "CTRL_BREAK_EVENT", "console"); return TRUE;
    case CTRL_CLOSE_EVENT: request_stop(SIGINT, "CTRL_CLOSE_EVENT", "console"); return TRUE;
    default: return FALSE;  // logoff/shutdown of a console process: the service path handles those
  }
}
}  // namespace

void request_stop(int signal, const std::string& name, const std::string& sender) {
  agent::StopRequest r;
  r.signal = signal;
  r.signal_name = name;
  r.sender_exe = sender;
  std::lock_guard lock(g_mu);
  if (g_sink) g_sink->deliver(std::move(r));
  else g_pending.push_back(std::move(r));
}

StopRequestSource::~StopRequestSource() {
  std::lock_guard lock(g_mu);
  if (g_sink == this) {
    g_sink = nullptr;
    SetConsoleCtrlHandler(on_console_ctrl, FALSE);
  }
}

Status StopRequestSource::start(const agent::StopSignalSpec&) {
  if (auto s = queue_.open(); !s) return s;
  std::lock_guard lock(g_mu);
  if (g_sink) return err("stop requests: another source already receives them");
  g_sink = this;
  for (auto& r : g_pending) deliver(std::move(r));
  g_pending.clear();
  SetConsoleCtrlHandler(on_console_ctrl, TRUE);
  return {};
}

Result<agent::DrainStats> StopRequestSource::drain(const std::function<void(agent::StopRequest&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<StopSignalSource> make_stop_signal_source() { return std::make_unique<win::StopRequestSource>(); }
}  // namespace vigil::agent
