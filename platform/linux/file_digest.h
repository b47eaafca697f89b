// Reading watched files: a digest of the whole file and, when it is small, its content for a
// line diff. Used by the security source for configuration files and the agent's own files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace vigil::platform {

// What stat() says about a file; equal stamps mean the content was not rewritten (ctime moves on
// every write, rename onto it and chmod), so the file need not be read again.
struct FileStamp {
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
// Nothing when the path is missing or not a regular file (after symlinks).
std::optional<FileStamp> stamp_of(const std::string& path);

struct FileSnapshot {
  std::string digest;         // sha256 hex of the whole file (up to kMaxDigestBytes)
  std::string content;        // the bytes, when the file is at most the content limit
  bool has_content = false;
  bool elf = false;           // starts with \x7fELF (an executable or library)
  std::uint64_t size = 0;
  FileStamp stamp;            // of the file that was read
};

inline constexpr std::uint64_t kMaxDigestBytes = 1ull << 30;  // a digest past 1 GiB is not ours

// Nothing when the path is missing or not a regular file (after symlinks), or unreadable.
// keep_content_up_to: files up to this many bytes keep their content (0: never).
std::optional<FileSnapshot> snapshot_file(const std::string& path, std::size_t keep_content_up_to);

}  // namespace vigil::platform
