// The capture interface the agent owns; each OS implements it under platform/<os>/.
// The agent never sees a file descriptor type, an fanotify struct or a Windows handle: it gets a
// pollable handle to wait on and normalized activity records.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shared/content_type.h"
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

// Read: a file opened for reading only was closed (reported only when CaptureSpec::report_reads;
// used by the agent to find the source of a copy, not spooled as an event on its own).
enum class FileAction { Create, Write, Rename, Delete, Read };

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
  // Write of a regular file: what its first bytes say, when the source read them while it had the
  // file at hand (cheaper than another lookup by path); nullopt: not read, the deriver reads it.
  std::optional<ContentType> content;
};

struct CaptureSpec {
  std::vector<std::string> watch_paths;    // empty: the whole filesystem, sensibly (see platform)
  std::vector<std::string> exclude_paths;  // never reported (the agent's own data dir, ...)
  bool report_reads = false;               // also report FileAction::Read (close after read)
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
  // Switches the reporting of reads (FileAction::Read) while running; records already queued are
  // judged by the new setting. An error when this source cannot report reads at all.
  virtual Status set_report_reads(bool on) {
    if (!on) return {};
    return err("this platform's file capture does not report reads");
  }
  // false: pollable_fd() need not become readable as activity arrives, because the caller drains
  // on a schedule of its own for a while (a storm); activity is kept for drain() all the same.
  // true (the state after start()): readable again, at once when activity is already pending.
  // A source that cannot stop waking simply keeps waking. An error leaves the wakeups as they
  // were: the caller must then keep draining on its own schedule.
  virtual Status set_wake_on_activity(bool /*on*/) { return {}; }
};

// Implemented by the platform this binary is built for.
std::unique_ptr<FileActivitySource> make_file_activity_source();

// The sensitivity labels a file carries, as its platform records them (Linux: the extended
// attributes user.vigil.labels and user.xdg.tags; Windows: the NTFS stream <path>:vigil.labels),
// comma-separated. Trimmed, de-duplicated, at most 16 of at most 128 bytes each; empty when there
// are none or they cannot be read. Blocking: called on the classification worker, never on the
// event loop.
std::vector<std::string> read_file_labels(const std::string& path);

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
  // The volumes (block devices and network shares) mounted now, as Mounted records; after
  // start(). drain() reports only changes, so this is how a stick that was already plugged in
  // when the agent started still counts as removable media. Not reported as events.
  virtual std::vector<VolumeActivity> current_volumes() const { return {}; }
};

// Implemented by the platform this binary is built for.
std::unique_ptr<DeviceActivitySource> make_device_activity_source();

// ---------------------------------------------------------------------------------------------
// The other capture sources share one shape: start with a spec, a pollable fd that is readable
// when records are pending, and a non-blocking drain in the order seen.
template <typename Record, typename Spec>
class ActivitySource {
 public:
  virtual ~ActivitySource() = default;
  virtual Status start(const Spec& spec) = 0;
  virtual int pollable_fd() const = 0;
  virtual Result<DrainStats> drain(const std::function<void(Record&&)>& sink) = 0;
};

// Printing: a job that reached a final state, from the print system's own notifications (CUPS:
// an IPP subscription), not from its logs.
struct PrintActivity {
  std::int64_t time_ns = 0;        // when the agent learned the final state
  std::string printer;
  std::string printer_uri;
  std::string title;               // empty when the job had none
  std::uint32_t pages = 0;         // impressions completed; 0 when unknown
  std::uint32_t copies = 0;
  std::uint64_t bytes = 0;
  std::uint32_t job_id = 0;
  std::string state;               // completed | canceled | aborted | stopped
  std::string state_reasons;
  std::string job_user;            // the user the print system recorded
  std::string origin_host;
  std::string document_format;
  std::int64_t created_ns = 0;
  std::int64_t completed_ns = 0;
  std::string server;              // which print server (socket path or host:port)
  std::string document_path;       // spooled document, if still readable (for classification)
};

struct PrintCaptureSpec {
  std::string server;              // "": the system's default (CUPS_SERVER, /run/cups/cups.sock)
  std::string spool_dir = "/var/spool/cups";
};
using PrintActivitySource = ActivitySource<PrintActivity, PrintCaptureSpec>;
std::unique_ptr<PrintActivitySource> make_print_activity_source();

// Security settings: something security-relevant changed. Category and item say what; digests
// (sha256 hex) or short values say from what to what; diff shows the lines, bounded.
struct SecurityChange {
  std::int64_t time_ns = 0;
  std::string category;            // firewall | audit | auditd | lsm | sudoers | pam | sshd | screen_lock
  std::string item;
  std::string change;              // created | modified | deleted | state
  std::string old_digest, new_digest;
  std::string old_value, new_value;
  std::string diff;
  std::uint32_t lines_added = 0, lines_removed = 0;
  std::string changed_by;          // how the actor is known ("" when it is not)
  bool has_process = false;
  ProcessInfo process;
};

// The agent itself was touched: its binary or config changed, or it was signalled to stop.
struct TamperActivity {
  std::int64_t time_ns = 0;
  std::string what;                // binary_modified | config_modified | data_modified | signalled | stopped
  std::string item;                // the path, or the signal's name
  int signal = 0;
  std::uint32_t sender_pid = 0, sender_uid = 0;
  std::string sender_exe;
  std::string old_digest, new_digest;
  std::string detail;
};

using SecurityRecord = std::variant<SecurityChange, TamperActivity>;

struct SecurityCaptureSpec {
  // Prefix for the configuration paths (/etc/sudoers, /etc/pam.d, /etc/ssh, /etc/audit, ...):
  // "/" in production; tests point it at a temporary root.
  std::string config_root = "/";
  // Network namespace whose firewall is watched: "" is the agent's own; a path such as
  // /run/netns/NAME or /proc/PID/ns/net for tests.
  std::string netns_path;
  // The agent's own files (binary, agent.toml, certificates): changes are agent.tamper.
  std::vector<std::string> agent_paths;
  // State without notifications (auditd running, LSM mode) is rechecked this often.
  std::int64_t recheck_interval_ms = 30000;
};
using SecurityActivitySource = ActivitySource<SecurityRecord, SecurityCaptureSpec>;
std::unique_ptr<SecurityActivitySource> make_security_activity_source();

// Sessions: log on, log off, lock, unlock.
enum class SessionAction { Logon, Logoff, Lock, Unlock };
struct SessionActivity {
  SessionAction action = SessionAction::Logon;
  std::int64_t time_ns = 0;        // when it happened (the record's own time when it has one)
  std::string session_id;
  std::string user;
  std::uint32_t uid = 0xffffffffu;
  std::string tty;
  std::string remote_host;
  std::string kind;                // tty | ssh | x11 | wayland | other
  std::string source;              // utmp | logind
  std::uint32_t leader_pid = 0;
  std::int64_t started_ns = 0;
};
struct SessionCaptureSpec {
  std::string utmp_path = "/var/run/utmp";
  bool logind = true;              // also follow logind (D-Bus) for lock/unlock when it runs
};
using SessionActivitySource = ActivitySource<SessionActivity, SessionCaptureSpec>;
std::unique_ptr<SessionActivitySource> make_session_activity_source();

// A request to stop (SIGTERM/SIGINT/SIGHUP...) with who sent it, so the agent can record
// agent.tamper before it stops. The source blocks these signals in the process; create it
// before any thread starts.
struct StopRequest {
  int signal = 0;
  std::string signal_name;         // SIGTERM
  std::uint32_t sender_pid = 0, sender_uid = 0;
  std::string sender_exe;
};
struct StopSignalSpec {};
using StopSignalSource = ActivitySource<StopRequest, StopSignalSpec>;
std::unique_ptr<StopSignalSource> make_stop_signal_source();

// The OS's service manager hosts the agent's run. Linux: systemd runs `vigil-agent run` as a plain
// foreground process, so this calls body. Windows: when the Service Control Manager started the
// process it connects to it (running/stopped states; stop and shutdown become StopRequests) and
// runs body as the service; from a console it calls body. Returns body's exit code.
int run_hosted(const std::function<int()>& body);

// Host facts for Hello and enrollment, from the platform.
struct HostInfo {
  std::string hostname;
  std::string os;  // e.g. "Debian GNU/Linux 12 (bookworm); Linux 6.1.0"
};
HostInfo host_info();

}  // namespace vigil::agent
