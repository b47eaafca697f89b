// The capture interface the agent owns; each OS implements it under platform/<os>/.
// The agent never sees a file descriptor type, an fanotify struct or a Windows handle: it gets a
// pollable handle to wait on and normalized activity records.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
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

// ---------------------------------------------------------------------------------------------
// Devices and volumes: USB devices and removable disks coming and going (kernel uevents), block
// devices and network shares being mounted and unmounted (mount table changes).

enum class DeviceAction { Connected, Disconnected };
enum class DeviceClass { Other, MassStorage, Mtp, Hid };

struct DeviceActivity {
  DeviceAction action = DeviceAction::Connected;
  std::int64_t time_ns = 0;     // when the agent received it (UTC ns)
  std::string bus;              // "usb" (a USB device) or "block" (a removable whole disk)
  std::string kernel_action;    // as the kernel said it: "add" / "remove"
  std::string vendor_id;        // 4 lowercase hex digits; empty when the kernel did not say
  std::string product_id;
  std::string serial;
  DeviceClass device_class = DeviceClass::Other;
  std::string vendor_name;
  std::string product_name;
  std::string devpath;          // kernel DEVPATH (under /sys)
  std::string devnode;          // /dev/...; empty when the kernel named none
  bool removable = false;       // bus "block": removable media
  std::uint64_t kernel_seqnum = 0;
};

enum class VolumeAction { Mounted, Unmounted };

struct VolumeActivity {
  VolumeAction action = VolumeAction::Mounted;
  std::int64_t time_ns = 0;
  std::string device;           // mount source (/dev/sdb1, //server/share)
  std::string fstype;           // filesystem (probed on the device when the kernel says fuseblk)
  std::string mount_type;       // what the mount table says, when it differs from fstype
  std::string label;
  std::string uuid;
  std::string mount_point;      // raw bytes, escapes of the mount table decoded
  bool removable = false;
  bool network_share = false;
  bool read_only = false;
};

using DeviceSourceRecord = std::variant<DeviceActivity, VolumeActivity>;

struct DeviceCaptureSpec {
  // Globs (fnmatch, on the device node: "/dev/loop*", "/dev/sd[b-z]*") of block devices to treat
  // as removable media whatever the kernel says. Lets tests on machines without a USB bus use loop
  // devices, and lets an administrator mark e.g. an eSATA dock removable. agent.toml:
  // removable_devices (see docs/REMOVABLE_MEDIA.md).
  std::vector<std::string> removable_devices;
};

class DeviceActivitySource {
 public:
  virtual ~DeviceActivitySource() = default;
  virtual Status start(const DeviceCaptureSpec& spec) = 0;
  // Readable when something is pending (poll/epoll/uv_poll on it).
  virtual int pollable_fd() const = 0;
  // Reads what is pending without blocking; hands each record to sink in the order seen.
  // DrainStats::overflows counts kernel notifications lost (receive buffer overrun).
  virtual Result<DrainStats> drain(const std::function<void(DeviceSourceRecord&&)>& sink) = 0;
};

// Implemented by the platform this binary is built for.
std::unique_ptr<DeviceActivitySource> make_device_activity_source();

// Host facts for Hello and enrollment, from the platform.
struct HostInfo {
  std::string hostname;
  std::string os;  // e.g. "Debian GNU/Linux 12 (bookworm); Linux 6.1.0"
};
HostInfo host_info();

}  // namespace vigil::agent
