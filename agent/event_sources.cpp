#include "agent/event_source.h"
#include "agent/security_event_source.h"
#include "agent/session_event_source.h"

#include "agent/print_event_source.h"
#include "shared/log.h"

namespace vigil::agent {

namespace {

// Print jobs are classified with the built-in sensitive types (compiling them takes ~12 ms).
std::unique_ptr<EventSource> print_source(const AgentConfig& c) {
  PrintCaptureSpec spec;
  spec.server = c.print_server;
  spec.spool_dir = c.print_spool_dir;
  std::shared_ptr<const Classifier> classifier;
  if (auto made = Classifier::create({}); made) classifier = std::move(*made);
  else log::warn("print", "print jobs will not be classified", {{"error", made.error()}});
  return std::make_unique<PrintEventSource>(make_print_activity_source(), spec, std::move(classifier));
}

}  // namespace

// One line per optional source; each adapter lives in its own file.
std::vector<std::unique_ptr<EventSource>> make_event_sources(const RuntimeOptions& options) {
  std::vector<std::unique_ptr<EventSource>> sources;
  if (options.config.print_capture) sources.push_back(print_source(options.config));
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
