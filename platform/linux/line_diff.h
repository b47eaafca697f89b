// Line diffs for security.changed: what was removed ("-") and added ("+") between two texts,
// bounded so a rewritten 256 KB file cannot make a huge event.
//
// line_diff promises:
//  - lines_added / lines_removed are exact counts of the edit (common prefix and suffix lines are
//    never counted; the middle is matched by longest common subsequence while it is small enough,
//    kMaxLcsCells, else every middle line counts as removed and added);
//  - text holds "-line\n" / "+line\n" in order (removals of a hunk before its additions) and is at
//    most max_bytes long; when cut it ends with "...\n" and truncated is set;
//  - any bytes are accepted (no encoding assumed); a missing final newline is not a change.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::platform {

struct LineDiff {
  std::string text;
  std::uint32_t lines_added = 0;
  std::uint32_t lines_removed = 0;
  bool truncated = false;
};

inline constexpr std::size_t kDefaultDiffBytes = 4096;
inline constexpr std::size_t kMaxLcsCells = 4'000'000;

std::vector<std::string_view> split_lines(std::string_view text);
LineDiff line_diff(std::string_view old_text, std::string_view new_text,
                   std::size_t max_bytes = kDefaultDiffBytes);

}  // namespace vigil::platform
