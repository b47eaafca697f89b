// Request-target helpers for the HTTPS API: splitting "/path?query", percent-decoding, and
// parsing a query string into ordered name/value pairs.
//
// Promises:
// - Decoding is strict: a '%' not followed by two hex digits is an error naming the text, never
//   passed through; '+' means a space in query components (HTML form encoding).
// - Decoded values may hold any byte except NUL (rejected), so a value cannot smuggle a
//   terminator into code that later hands it to C APIs (fnmatch, SQLite).
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/result.h"

namespace vigil::collector {

struct SplitTarget {
  std::string_view path;   // before '?', still percent-encoded
  std::string_view query;  // after '?', empty when there is none
};

SplitTarget split_target(std::string_view target);

// plus_is_space: true for query components, false for paths.
Result<std::string> percent_decode(std::string_view text, bool plus_is_space);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// "a=1&b=x+y&c" → {("a","1"), ("b","x y"), ("c","")}; empty pieces ("a=1&&b=2") are skipped.
Result<QueryParams> parse_query(std::string_view query);

}  // namespace vigil::collector
