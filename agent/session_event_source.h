// SessionEventSource: the platform's SessionActivitySource as "session.logon|logoff|lock|unlock"
// events. Event.user is the session's user (login_uid its uid, so per-user views such as "after
// hours" line up with the other events); the process is the session leader's pid when known.
#pragma once
#include <memory>

#include "agent/capture.h"
#include "agent/event_source.h"

namespace vigil::agent {

const char* session_event_type(SessionAction action);
v1::Event make_session_event(const SessionActivity& session);

class SessionEventSource : public EventSource {
 public:
  SessionEventSource(SessionCaptureSpec spec, std::unique_ptr<SessionActivitySource> source);
  std::string name() const override { return "sessions"; }
  Status start() override;
  int pollable_fd() const override;
  Result<DrainStats> drain(std::vector<v1::Event>& out) override;

 private:
  SessionCaptureSpec spec_;
  std::unique_ptr<SessionActivitySource> source_;
};

}  // namespace vigil::agent
