#include "agent/session_event_source.h"

#include "agent/event_builder.h"

namespace vigil::agent {

const char* session_event_type(SessionAction action) {
  switch (action) {
    case SessionAction::Logon: return "session.logon";
    case SessionAction::Logoff: return "session.logoff";
    case SessionAction::Lock: return "session.lock";
    case SessionAction::Unlock: return "session.unlock";
  }
  return "session.unknown";
}

v1::Event make_session_event(const SessionActivity& s) {
  v1::Event e;
  e.set_time_ns(s.time_ns);
  e.set_type(session_event_type(s.action));
  e.set_login_uid(s.uid);
  e.set_user(escape_non_utf8(s.user));
  if (s.leader_pid) e.mutable_process()->set_pid(s.leader_pid);
  auto* b = e.mutable_session();
  b->set_session_id(escape_non_utf8(s.session_id));
  b->set_user(escape_non_utf8(s.user));
  b->set_uid(s.uid);
  b->set_tty(escape_non_utf8(s.tty));
  b->set_remote_host(escape_non_utf8(s.remote_host));
  b->set_kind(s.kind);
  b->set_source(s.source);
  b->set_leader_pid(s.leader_pid);
  b->set_started_ns(s.started_ns);
  return e;
}

SessionEventSource::SessionEventSource(SessionCaptureSpec spec, std::unique_ptr<SessionActivitySource> source)
    : spec_(std::move(spec)), source_(std::move(source)) {}

Status SessionEventSource::start() { return source_->start(spec_); }

int SessionEventSource::pollable_fd() const { return source_->pollable_fd(); }

Result<DrainStats> SessionEventSource::drain(std::vector<v1::Event>& out) {
  return source_->drain([&out](SessionActivity&& s) { out.push_back(make_session_event(s)); });
}

}  // namespace vigil::agent
