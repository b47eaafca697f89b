// EventSource: an optional capture source (printing, security settings, sessions, ...) adapted to
// schema events, so the runtime polls them all alike. A source that cannot start (no print
// server, no permission) is logged once and left out; file capture never depends on it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_runtime.h"
#include "agent/capture.h"
#include "shared/classifier.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::agent {

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual std::string name() const = 0;  // for logs: "print", "security", "sessions"
  virtual Status start() = 0;
  virtual int pollable_fd() const = 0;
  // Appends an event for each pending record (no seq: the spool assigns it). DrainStats::overflows
  // counts notifications the system lost; the runtime reports them as agent.loss.
  virtual Result<DrainStats> drain(std::vector<v1::Event>& out) = 0;
  // Classification rules from the collection config, for sources that classify content (print).
  virtual void set_classifier(std::shared_ptr<const Classifier> /*classifier*/, ScanLimits /*limits*/) {}
};

// The optional sources this agent runs, configured from agent.toml (agent/event_sources.cpp).
std::vector<std::unique_ptr<EventSource>> make_event_sources(const RuntimeOptions& options);

}  // namespace vigil::agent
