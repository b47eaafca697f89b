// What every vigilctl command shares: the exit codes of DESIGN.md's contract, how a complaint is
// printed, and a session (settings resolved from flags, environment and config file, plus an
// HTTPS client for the server) that every command opens the same way.
#pragma once
#include <boost/json.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

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

// An API answer: the status and its JSON object (empty when the answer was not one).
struct Answer {
  int status = 0;
  boost::json::object body;
};

// One authenticated call; nullopt (with code set and the reason printed) on network failure or
// an error status other than those in `pass` (which come back to the caller). 400/404/409/413/415
// are usage errors (2), the rest failures (1).
std::optional<Answer> call(Session& s, std::string_view method, const std::string& target, const std::string& body,
                           int& code, const std::string& content_type = "application/json",
                           std::initializer_list<int> pass = {});

// The contents of FILE, or of stdin for "-"; nullopt (code = 2, reason printed) when unreadable.
std::optional<std::string> read_input(const std::string& file, int& code);

}  // namespace vigil::ctl
