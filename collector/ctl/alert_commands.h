// vigilctl commands for the policy engine: `alerts list|show ID`, `users --in-scope` (also
// `users in-scope`), `analytics --days N`; each with --json (one JSON object per line).
#pragma once
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>

namespace vigil::ctl {

// GET target on the API: the JSON object of a 2xx answer, or nullopt after the caller printed why
// and set exit_code.
using ApiGet = std::function<std::optional<boost::json::object>(const std::string& target, int& exit_code)>;

void add_alert_commands(CLI::App& app, ApiGet get, int& result);

}  // namespace vigil::ctl
