// vigilctl's policy commands: policies, templates, dlp-rules, hr, users (docs/POLICIES.md,
// docs/HR_IMPORT.md). Same conventions as the rest of vigilctl: --json prints the server's JSON
// (listings one object per line); exit 0 ok, 1 failure (server, network, rows rejected by an
// import), 2 usage or a request the server rejects as invalid (400, 404 for an unknown id,
// 409 for a taken name).
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

// Adds the commands to app; the chosen one stores its exit code in result. `users` gets the
// subcommands import-attributes and attributes and does not require one, so other options
// (such as --in-scope) can live beside them.
void add_policy_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
