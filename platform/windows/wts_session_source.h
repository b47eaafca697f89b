// WtsSessionSource: log on, log off, lock and unlock on Windows, from the Terminal Services
// session notifications (WTSRegisterSessionNotification, NOTIFY_FOR_ALL_SESSIONS) delivered to a
// message-only window on the worker thread. User, domain and client host come from
// WTSQuerySessionInformation for the session the notification names; remote (RDP) sessions are
// kind "rdp", the console "console". The SessionCaptureSpec's utmp/logind fields have no Windows
// meaning and are ignored.
#pragma once
#include <string>
#include <thread>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

// The record for a WTS_SESSION_* notification code about session `id`; false for codes that are
// not logon/logoff/lock/unlock (console connect/disconnect, remote control).
bool session_activity_for(WPARAM code, DWORD id, agent::SessionActivity& out);

class WtsSessionSource final : public agent::SessionActivitySource {
 public:
  WtsSessionSource() = default;
  ~WtsSessionSource() override;
  Status start(const agent::SessionCaptureSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::SessionActivity&&)>& sink) override;

  void on_message(WPARAM code, LPARAM session);

 private:
  void run(HANDLE ready, std::string* failure);

  std::thread worker_;
  DWORD thread_id_ = 0;
  RecordQueue<agent::SessionActivity> queue_;
};

}  // namespace vigil::win
