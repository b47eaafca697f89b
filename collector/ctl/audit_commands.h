// vigilctl audit list | verify: the collector's audit log through the API (docs/AUDIT.md).
// `audit verify` exits 1 when the chain is broken, so scripts and monitoring can alert on it.
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

void add_audit_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
