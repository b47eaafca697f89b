// vigilctl activity query|export: investigator queries over all collected activity
// (GET /api/v1/activity, POST /api/v1/activity/exports; docs/INVESTIGATION.md).
//   activity query  [filters] [--limit N] [--count] [--all] [--cursor C] [--json]
//   activity export [filters] --format csv|jsonl [--output FILE] [--json]
// Filters: --user --device --type --channel --path --classification --since --until.
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

void add_activity_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
