#include "platform/linux/mount_table.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <charconv>
#include <unordered_map>

#include "platform/linux/unique_fd.h"

namespace vigil::platform {
namespace {

// Fields are separated by exactly one space; a field may be empty (a mount whose source is "").
std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    std::size_t e = line.find(' ');
    out.push_back(line.substr(0, e));
    if (e == std::string_view::npos) break;
    line.remove_prefix(e + 1);
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool has_option(std::string_view options, std::string_view name) {
  while (!options.empty()) {
    std::size_t c = options.find(',');
    if (options.substr(0, c) == name) return true;
    if (c == std::string_view::npos) break;
    options.remove_prefix(c + 1);
  }
  return false;
}

std::string errno_text(int e) {
  const char* d = strerrordesc_np(e);
  return d != nullptr ? d : "errno " + std::to_string(e);
}

}  // namespace

bool MountInfo::read_only() const { return has_option(mount_options, "ro") || has_option(super_options, "ro"); }

bool MountInfo::same_mount(const MountInfo& o) const {
  return mount_id == o.mount_id && major == o.major && minor == o.minor && mount_point == o.mount_point &&
         source == o.source && fstype == o.fstype;
}

std::string unescape_mount_field(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      int v = ((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0');
      out.push_back(static_cast<char>(v & 0xff));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<MountInfo> parse_mountinfo_entry(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto f = split_words(line);
  // id parent maj:min root mount_point options [optional...] - fstype source super_options
  if (f.size() < 9) return std::nullopt;
  MountInfo m;
  if (!parse_number(f[0], m.mount_id) || !parse_number(f[1], m.parent_id)) return std::nullopt;
  std::size_t colon = f[2].find(':');
  if (colon == std::string_view::npos || !parse_number(f[2].substr(0, colon), m.major) ||
      !parse_number(f[2].substr(colon + 1), m.minor))
    return std::nullopt;
  m.root = unescape_mount_field(f[3]);
  m.mount_point = unescape_mount_field(f[4]);
  m.mount_options = std::string(f[5]);
  std::size_t dash = 6;
  while (dash < f.size() && f[dash] != "-") m.optional_fields.emplace_back(f[dash++]);
  // After the separator: fstype and source are required; the superblock options may be missing
  // on very old kernels.
  if (dash + 2 >= f.size()) return std::nullopt;
  m.fstype = std::string(f[dash + 1]);
  m.source = unescape_mount_field(f[dash + 2]);
  if (dash + 3 < f.size()) m.super_options = std::string(f[dash + 3]);
  return m;
}

std::vector<MountInfo> parse_mount_table(std::string_view text) {
  std::vector<MountInfo> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (auto m = parse_mountinfo_entry(line)) out.push_back(std::move(*m));
  }
  return out;
}

Result<std::vector<MountInfo>> read_mount_table(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return err("open " + path + ": " + errno_text(errno));
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err("read " + path + ": " + errno_text(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return parse_mount_table(text);
}

MountDiff diff_mount_tables(const std::vector<MountInfo>& before, const std::vector<MountInfo>& after) {
  MountDiff d;
  std::unordered_map<std::uint64_t, const MountInfo*> by_id_before, by_id_after;
  for (const auto& m : before) by_id_before.emplace(m.mount_id, &m);
  for (const auto& m : after) by_id_after.emplace(m.mount_id, &m);
  for (const auto& m : after) {
    auto it = by_id_before.find(m.mount_id);
    if (it == by_id_before.end() || !it->second->same_mount(m)) d.added.push_back(m);
  }
  for (const auto& m : before) {
    auto it = by_id_after.find(m.mount_id);
    if (it == by_id_after.end() || !it->second->same_mount(m)) d.removed.push_back(m);
  }
  return d;
}

bool is_network_share_fstype(std::string_view t) {
  return t == "cifs" || t == "smb3" || t == "smbfs" || t == "nfs" || t == "nfs4" || t == "sshfs" ||
         t == "fuse.sshfs" || t == "ceph" || t == "fuse.rclone" || t == "davfs" || t == "fuse.davfs2";
}

}  // namespace vigil::platform
