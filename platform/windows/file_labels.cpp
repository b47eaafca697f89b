// Sensitivity labels of a file on Windows: the NTFS alternate data stream <path>:vigil.labels,
// comma-separated (the Linux build reads the xattr user.vigil.labels). Parsed as
// platform/windows/file_labels.h says; an empty list on any error (no stream, a file system
// without streams, no access, a stream longer than 16 * 129 bytes).
#include "platform/windows/file_labels.h"

#include "agent/capture.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

std::vector<std::string> parse_labels(std::string_view data) {
  std::vector<std::string> labels;
  std::size_t start = 0;
  while (start <= data.size()) {
    std::size_t end = data.find(',', start);
    if (end == std::string_view::npos) end = data.size();
    std::string_view label = data.substr(start, end - start);
    const auto first = label.find_first_not_of(" \t\r\n");
    const auto last = label.find_last_not_of(" \t\r\n");
    label = first == std::string_view::npos ? std::string_view() : label.substr(first, last - first + 1);
    if (!label.empty() && label.size() <= kMaxLabelBytes) {
      if (labels.size() == kMaxLabels) return labels;
      labels.emplace_back(label);
    }
    start = end + 1;
  }
  return labels;
}

}  // namespace vigil::win

namespace vigil::agent {

std::vector<std::string> read_file_labels(const std::string& path) {
  constexpr DWORD kMaxStreamBytes = win::kMaxLabels * (win::kMaxLabelBytes + 1);
  win::UniqueHandle h(CreateFileW(win::widen(path + ":vigil.labels").c_str(), GENERIC_READ,
                                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                                  FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!h.valid()) return {};
  LARGE_INTEGER size{};
  if (!GetFileSizeEx(h.get(), &size) || size.QuadPart > kMaxStreamBytes) return {};
  std::string data(static_cast<std::size_t>(size.QuadPart), '\0');
  DWORD got = 0;
  if (!data.empty() && (!ReadFile(h.get(), data.data(), static_cast<DWORD>(data.size()), &got, nullptr) || got != data.size()))
    return {};
  return win::parse_labels(data);
}

}  // namespace vigil::agent
