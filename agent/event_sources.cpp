#include "agent/event_source.h"
#include "agent/security_event_source.h"
#include "agent/session_event_source.h"

namespace vigil::agent {

// One line per optional source; each adapter lives in its own file.
std::vector<std::unique_ptr<EventSource>> make_event_sources(const RuntimeOptions& options) {
  std::vector<std::unique_ptr<EventSource>> sources;
  if (options.config.security_capture)
    sources.push_back(std::make_unique<SecurityEventSource>(security_spec_from(options), make_security_activity_source()));
  if (options.config.session_capture) {
    SessionCaptureSpec spec;
    spec.utmp_path = options.config.utmp_path;
    sources.push_back(std::make_unique<SessionEventSource>(spec, make_session_activity_source()));
  }
  return sources;
}

}  // namespace vigil::agent
