// The parsing half of read_file_labels() (agent/capture.h) on Windows, separate so it is tested
// without NTFS: comma-separated, trimmed of spaces, tabs and line breaks, empty labels skipped,
// labels over kMaxLabelBytes dropped, at most kMaxLabels kept (the first ones).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::win {

inline constexpr std::size_t kMaxLabels = 16;
inline constexpr std::size_t kMaxLabelBytes = 128;

std::vector<std::string> parse_labels(std::string_view data);

}  // namespace vigil::win
