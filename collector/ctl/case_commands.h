// vigilctl commands for triage, cases and notices (docs/CASES.md):
//   alerts dismiss|confirm|attach ID...      (one request for all ids: all or nothing)
//   cases list|show|note|close|escalate|files|activity
//   notices templates [create NAME --subject S --body-file F] | notices send CASE --template T
// Each with --json (one JSON object per line). Registered after the alert commands, whose
// `alerts` command the triage subcommands join.
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

void add_case_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
