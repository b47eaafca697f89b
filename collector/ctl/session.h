// What every vigilctl command shares: the exit codes of DESIGN.md's contract, how a complaint is
// printed, and a session (settings resolved from flags, environment and config file, plus an
// HTTPS client for the server) that every command opens the same way.
#pragma once
#include <optional>
#include <string>

#include "collector/ctl/ctl_config.h"
#include "collector/ctl/https_client.h"

namespace vigil::ctl {

inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kUsage = 2;  // usage or configuration error

// "vigilctl: <message>" on stderr.
void complain(const std::string& message);

struct Session {
  CtlSettings settings;
  HttpsClient client;
};

// Resolves the settings and prepares the client; on failure prints why and sets exit_code.
std::optional<Session> open_session(const CtlFlags& flags, int& exit_code);

}  // namespace vigil::ctl
