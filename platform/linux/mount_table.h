// The mount table as the kernel shows it in /proc/<pid>/mountinfo, parsed in full (the capture
// source in fanotify_source.h keeps its own minimal reader), and diffed between two reads so
// mounts and unmounts can be reported.
//
// Line format (proc(5)):
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)         (6)       (7...)   (-) (8)  (9)       (10)
// Optional fields (7) are zero or more "tag[:value]" words ended by a lone "-". Paths and the
// source write space, tab, newline and backslash as \ooo octal escapes (\040 for a space).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/result.h"

namespace vigil::platform {

struct MountInfo {
  std::uint64_t mount_id = 0;
  std::uint64_t parent_id = 0;
  unsigned major = 0;
  unsigned minor = 0;
  std::string root;            // path inside the filesystem this mount shows ("/" unless a bind)
  std::string mount_point;     // escapes decoded: raw bytes
  std::string mount_options;   // per-mount options: rw,nosuid,...
  std::vector<std::string> optional_fields;  // shared:N, master:N, propagate_from:N, unbindable
  std::string fstype;          // ext4, vfat, fuseblk, fuse.sshfs, nfs4, ...
  std::string source;          // /dev/sdb1, //server/share, host:/export, none (escapes decoded)
  std::string super_options;   // per-superblock options

  // "ro" among the per-mount or the superblock options.
  bool read_only() const;
  // Identity for diffing: the same mount in two reads (ids are reused only after an unmount, so
  // the device and mount point are compared too).
  bool same_mount(const MountInfo& other) const;
};

// Decodes \ooo escapes; anything else (a lone backslash, \9) is kept as written.
std::string unescape_mount_field(std::string_view s);

// One line; nullopt when it does not have the fields above (never throws, never crashes).
std::optional<MountInfo> parse_mountinfo_entry(std::string_view line);
// Every well-formed line of a mountinfo text, in order; malformed lines are skipped.
std::vector<MountInfo> parse_mount_table(std::string_view text);
// Reads and parses a mountinfo file (default: this process's mount namespace).
Result<std::vector<MountInfo>> read_mount_table(const std::string& path = "/proc/self/mountinfo");

struct MountDiff {
  std::vector<MountInfo> added;    // in the order of the new table
  std::vector<MountInfo> removed;  // in the order of the old table
};
MountDiff diff_mount_tables(const std::vector<MountInfo>& before, const std::vector<MountInfo>& after);

// cifs, smb3, smbfs, nfs, nfs4, sshfs, fuse.sshfs, 9p is not (virtual machines' host shares).
bool is_network_share_fstype(std::string_view fstype);

}  // namespace vigil::platform
