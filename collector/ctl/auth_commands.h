// vigilctl login / logout / whoami, and the account administration commands: accounts, roles,
// role-groups, tokens (docs/ROLES.md). `login` stores the session token in the vigilctl config
// file (the --config file or ~/.config/vigil/vigilctl.toml, mode 0600); `logout` revokes it on the
// server and removes it from the file.
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

void add_auth_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
