// AgentRuntime: the agent's pipeline on one libuv loop.
//   capture (platform source, uv_poll) → events → spool (batched every flush interval)
//   → uploader (mutual TLS, ack-driven)
// plus the lifecycle that makes killing the agent visible: on start it reports the gap since
// the previous run (agent.gap) and reconciles the watched paths against its checkpoint, so files
// changed while it was down are still recorded (reconciled=true).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/capture.h"
#include "shared/result.h"

namespace vigil::agent {

struct RuntimeOptions {
  AgentPaths paths;
  AgentConfig config;
  std::vector<std::string> watch;  // overrides config.watch when not empty
};

// Runs until SIGTERM/SIGINT; returns the process exit code.
int run_agent(const RuntimeOptions& options, std::unique_ptr<FileActivitySource> source);

}  // namespace vigil::agent
