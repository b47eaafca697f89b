#include "agent/event_source.h"

namespace vigil::agent {

// One line per optional source; each adapter lives in its own file.
std::vector<std::unique_ptr<EventSource>> make_event_sources(const RuntimeOptions& options) {
  std::vector<std::unique_ptr<EventSource>> sources;
  (void)options;
  return sources;
}

}  // namespace vigil::agent
