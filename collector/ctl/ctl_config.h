// Where vigilctl finds the collector API, the CA to trust and the token, by precedence:
// command-line flags, then VIGIL_SERVER / VIGIL_CA / VIGIL_TOKEN, then the TOML file
// ~/.config/vigil/vigilctl.toml (keys: server, ca, token or token_file).
//
// Promises:
// - Each setting is taken from the first source that has it; the file is read only when a
//   setting is still missing, so a broken file never gets in the way of complete flags.
// - Errors say what is missing or wrong and every place that was looked at; unknown keys and
//   wrong types in the file are errors naming the file, never silently ignored.
// - Relative `ca` and `token_file` paths in the file are relative to the file's folder.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "shared/result.h"

namespace vigil::ctl {

struct CtlFlags {
  std::string server;
  std::string ca;
  std::string token;
  std::string config;  // --config FILE: another file instead of the default one
};

struct CtlSettings {
  std::string server;   // URL as given
  std::string ca_path;
  std::string ca_pem;   // contents of ca_path
  std::string token;
};

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// The process environment (unset and empty variables are absent).
std::optional<std::string> process_env(const char* name);
// ~/.config/vigil/vigilctl.toml ($HOME, else the passwd entry).
std::string default_config_path();

Result<CtlSettings> resolve_settings(const CtlFlags& flags, const EnvLookup& env);

}  // namespace vigil::ctl
