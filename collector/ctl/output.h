// How vigilctl prints listings: --json is one compact JSON object per line (for scripts and
// jq); otherwise an aligned table for people.
#pragma once
#include <boost/json.hpp>
#include <iosfwd>
#include <string>
#include <vector>

namespace vigil::ctl {

// Columns padded to the widest cell; the last column is never padded.
void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows);

// "2026-01-31T12:00:00.123456789Z" → "2026-01-31T12:00:00.123Z"; anything else unchanged.
std::string short_time(std::string_view rfc3339);

// A field as text ("" when absent or null); numbers and booleans as JSON prints them.
std::string field_text(const boost::json::object& o, std::string_view key);

// The last column of the events table: the path for file events, a summary otherwise.
std::string event_summary(const boost::json::object& event);

}  // namespace vigil::ctl
