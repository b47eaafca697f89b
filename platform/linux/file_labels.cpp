// read_file_labels (agent/capture.h) on Linux: sensitivity labels from extended attributes.
// user.vigil.labels is what an organisation's labelling tool (or `setfattr`) writes for Vigil;
// user.xdg.tags is the freedesktop.org tag list desktop file managers write. Both hold
// comma-separated values. xattrs follow the file through `cp --preserve=xattr`, `mv` within a
// filesystem and most archive tools, which is what makes them worth reading on exfiltration.
#include <sys/xattr.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "agent/capture.h"

namespace vigil::agent {

namespace {

constexpr std::array<const char*, 2> kLabelAttributes{"user.vigil.labels", "user.xdg.tags"};
constexpr std::size_t kMaxLabels = 16;
constexpr std::size_t kMaxLabelBytes = 128;
constexpr std::size_t kMaxValueBytes = 4096;

void add_labels(const std::string& value, std::vector<std::string>& out) {
  std::size_t at = 0;
  while (at <= value.size() && out.size() < kMaxLabels) {
    std::size_t end = value.find(',', at);
    if (end == std::string::npos) end = value.size();
    std::string label = value.substr(at, end - at);
    const auto first = label.find_first_not_of(" \t\r\n");
    const auto last = label.find_last_not_of(" \t\r\n");
    label = first == std::string::npos ? "" : label.substr(first, last - first + 1);
    if (label.size() > kMaxLabelBytes) label.resize(kMaxLabelBytes);
    if (!label.empty() && std::find(out.begin(), out.end(), label) == out.end()) out.push_back(std::move(label));
    at = end + 1;
  }
}

}  // namespace

std::vector<std::string> read_file_labels(const std::string& path) {
  std::vector<std::string> labels;
  std::string value(kMaxValueBytes, '\0');
  for (const char* name : kLabelAttributes) {
    // getxattr follows symlinks, as the classification read does.
    const ssize_t n = ::getxattr(path.c_str(), name, value.data(), value.size());
    if (n <= 0) continue;  // ENODATA (none), ENOTSUP (filesystem without xattrs), ERANGE (too long): no labels
    add_labels(value.substr(0, static_cast<std::size_t>(n)), labels);
  }
  return labels;
}

}  // namespace vigil::agent
