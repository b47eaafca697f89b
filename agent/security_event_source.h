// SecurityEventSource: the platform's SecurityActivitySource as "security.changed" and
// "agent.tamper" events. The agent's own files (agent.toml, device.pem, ca.pem) are watched as
// tamper targets; the platform adds the running binary itself (see platform/linux/security_source.h).
// Event.user and the process are the actor's when the platform knows it (nftables names the
// process that committed the change); otherwise they are left unset (login uid 4294967295).
#pragma once
#include <memory>

#include "agent/capture.h"
#include "agent/event_source.h"

namespace vigil::agent {

v1::Event make_security_event(const SecurityChange& change);
v1::Event make_tamper_event(const TamperActivity& tamper);

class SecurityEventSource : public EventSource {
 public:
  SecurityEventSource(SecurityCaptureSpec spec, std::unique_ptr<SecurityActivitySource> source);
  std::string name() const override { return "security"; }
  Status start() override;
  int pollable_fd() const override;
  Result<DrainStats> drain(std::vector<v1::Event>& out) override;

 private:
  SecurityCaptureSpec spec_;
  std::unique_ptr<SecurityActivitySource> source_;
};

// The spec agent.toml and the data directory give.
SecurityCaptureSpec security_spec_from(const RuntimeOptions& options);

}  // namespace vigil::agent
