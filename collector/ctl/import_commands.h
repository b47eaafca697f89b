// vigilctl import-activity FILE --source NAME: sends recorded activity (JSON lines of
// vigil.v1.Event, docs/RECORDED_ACTIVITY.md) to the collector, which stores it as the device
// "recorded-NAME" and evaluates it with the policy engine. All or nothing; bad lines are listed.
#pragma once
#include <CLI/CLI.hpp>

#include "collector/ctl/ctl_config.h"

namespace vigil::ctl {

void add_import_commands(CLI::App& app, const CtlFlags& flags, int& result);

}  // namespace vigil::ctl
