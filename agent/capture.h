// The capture interface the agent owns; each OS implements it under platform/<os>/.
// The agent never sees a file descriptor type, an fanotify struct or a Windows handle: it gets a
// pollable handle to wait on and normalized activity records.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shared/result.h"

namespace vigil::agent {

struct ProcessInfo {
  std::uint32_t pid = 0;
  std::uint32_t ppid = 0;
  std::string exe;          // empty if the process was gone before it could be read
  std::string comm;
  std::string parent_exe;
  std::uint32_t uid = 0;            // real uid
  std::uint32_t login_uid = 0xffffffffu;  // audit login uid; 0xffffffff = unset
  std::string user;         // name of login_uid, or of uid when login_uid is unset; the number
                            // as text when there is no passwd entry
};

enum class FileAction { Create, Write, Rename, Delete };

struct FileActivity {
  FileAction action = FileAction::Create;
  std::string path;         // absolute; raw bytes as the kernel gave them
  std::string old_path;     // Rename: the previous path
  bool is_dir = false;
  std::int64_t time_ns = 0; // when the agent read it (UTC ns)
  ProcessInfo process;
  std::uint64_t size = 0;   // at the time of reading, when still there
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;
};

struct CaptureSpec {
  std::vector<std::string> watch_paths;    // empty: the whole filesystem, sensibly (see platform)
  std::vector<std::string> exclude_paths;  // never reported (the agent's own data dir, ...)
};

struct DrainStats {
  std::uint64_t activities = 0;
  std::uint64_t overflows = 0;  // kernel queue overflows: activity lost before we saw it
};

class FileActivitySource {
 public:
  virtual ~FileActivitySource() = default;
  virtual Status start(const CaptureSpec& spec) = 0;
  // Readable when activity is pending (poll/epoll/uv_poll on it).
  virtual int pollable_fd() const = 0;
  // Reads what is pending without blocking; hands each activity to sink in kernel order.
  virtual Result<DrainStats> drain(const std::function<void(FileActivity&&)>& sink) = 0;
};

// Implemented by the platform this binary is built for.
std::unique_ptr<FileActivitySource> make_file_activity_source();

// Host facts for Hello and enrollment, from the platform.
struct HostInfo {
  std::string hostname;
  std::string os;  // e.g. "Debian GNU/Linux 12 (bookworm); Linux 6.1.0"
};
HostInfo host_info();

}  // namespace vigil::agent
