// Wall-clock time in UTC nanoseconds, RFC 3339 formatting, and human durations ("90s", "1h",
// "24h", "7d") as the CLIs accept them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil {

std::int64_t now_ns();
// digits: fractional second digits (0..9).
std::string format_rfc3339(std::int64_t time_ns, int digits = 9);
// Accepts RFC 3339 with "Z" or an offset; returns UTC ns.
Result<std::int64_t> parse_rfc3339(std::string_view text);
// "250ms", "30s", "15m", "1h", "24h", "7d", "2w"; a bare number is seconds.
Result<std::int64_t> parse_duration_ns(std::string_view text);

}  // namespace vigil
