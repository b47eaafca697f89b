// FanotifySource: agent::FileActivitySource on Linux, built on fanotify in file-handle mode
// (FAN_REPORT_DFID_NAME | FAN_REPORT_FID, Linux >= 5.9; FAN_RENAME and FAN_REPORT_TARGET_FID
// used from 5.17). Needs CAP_SYS_ADMIN (filesystem marks) and CAP_DAC_READ_SEARCH
// (open_by_handle_at).
//
// What it promises:
//  - create / close-after-write / rename / delete of files and directories anywhere under the
//    watch paths (recursively, including filesystems mounted below them later), in kernel order,
//    with absolute paths as raw bytes (any name the kernel accepts, including newlines and
//    invalid UTF-8), the acting process and its login user;
//  - a Write of a regular file carries its content type (FileActivity::content), read through
//    the record's directory handle like its size, so neither needs another walk of the path;
//  - with CaptureSpec::report_reads, also the close of a regular file opened read-only
//    (FAN_CLOSE_NOWRITE) as FileAction::Read with its size, so the agent can name the source of a
//    copy; directories, FIFOs and devices are not reported;
//  - nothing under an exclude path, and nothing the agent's own process did (Options);
//  - empty watch paths mean every real (disk-backed or network) filesystem of this mount
//    namespace; pseudo filesystems are skipped (see is_pseudo_filesystem);
//  - filesystems mounted after start() are picked up at the next drain() (the pollable fd also
//    wakes on mount-table changes), so a USB stick plugged in later is covered;
//  - no file descriptor on a watched filesystem is held between drain() calls, so the agent never
//    keeps a removable disk from being unmounted;
//  - loss is counted, never silent: kernel queue overflows in DrainStats, records that could not
//    be attributed to a path in counters().
// Limits (kernel): "Write" is reported when a file opened for writing is closed, not per
// write(2) (a long-lived writer shows up at its close). The kernel merges queued records of one
// process about the same entry, so repeated writes collapse into one Write, and a record holding
// create+write+delete is reported in that order. Who did it: the kernel record carries only a pid.
// With the process connector (proc_connector.h; needs the initial pid namespace, and
// CAP_NET_ADMIN on older kernels) every fork and exec is recorded from /proc the moment it happens, by a
// thread of the source's own, and kept for a while after the exit, so a process that exited before
// its records were drained is still named, and a reused pid is not mistaken for its predecessor.
// Without it (logged once) the process is read from /proc when the record is drained: one that
// exited in between keeps only its pid (or what was cached for it moments before).
// Entries of a directory removed before we read them are named from that directory's own removal
// record when it is in the same read, else counted unresolved.
// Not thread-safe: start() and drain() belong to one loop.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/capture.h"

namespace vigil::platform {

// One line of /proc/self/mountinfo (escapes such as \040 already decoded).
struct MountEntry {
  unsigned major = 0;
  unsigned minor = 0;
  std::string root;         // the path inside the filesystem this mount shows ("/" unless bind)
  std::string mount_point;
  std::string fstype;
};

std::vector<MountEntry> parse_mountinfo(const std::string& text);

// Whether a mount carries no user files worth watching (proc, sysfs, cgroup, tmpfs under /run
// and /dev, squashfs snaps, overlay, ...). The reasoning per type is in the .cpp.
bool is_pseudo_filesystem(const MountEntry& m);

class FanotifySource final : public agent::FileActivitySource {
 public:
  struct Options {
    // Drop what the agent's own process does (its spool, its logs). Tests turn it off to use
    // their own file operations as the stimulus.
    bool drop_own_events = true;
    // Use FAN_RENAME (one record with both names). false forces the FAN_MOVED_FROM/FAN_MOVED_TO
    // pairing that kernels before 5.17 get automatically.
    bool use_fan_rename = true;
    // Directory handle -> path resolutions remembered (LRU).
    std::size_t dir_cache_capacity = 8192;
    // Record processes as they fork and exec (netlink process connector). Falls back to /proc at
    // drain time when the kernel does not let us listen.
    bool use_proc_connector = true;
    // Its thread runs SCHED_FIFO 1 so it reads an exec'd process before it exits even on a busy
    // machine (see ProcConnector::Options); false: nice -10.
    bool proc_connector_realtime = true;
    // Process generations remembered, and how long after an exit at least.
    std::size_t process_history_capacity = 16384;
    std::int64_t process_exit_grace_ns = 30'000'000'000;
  };

  // Diagnostics beyond DrainStats; monotonic since start().
  struct Counters {
    std::uint64_t records = 0;        // kernel records read
    std::uint64_t own = 0;            // dropped: caused by this process
    std::uint64_t out_of_scope = 0;   // dropped: outside the watch paths or excluded
    std::uint64_t unresolved = 0;     // dropped: the directory was gone before it could be named
    std::uint64_t malformed = 0;      // dropped: record lacking the information needed
    std::uint64_t unpaired_moves = 0; // legacy rename pairing: a half without its other half
    std::uint64_t dir_cache_hits = 0;
    std::uint64_t dir_cache_misses = 0;
    std::uint64_t filesystems_marked = 0;
    std::uint64_t mark_failures = 0;  // filesystems that could not be watched (logged)
    std::uint64_t mount_rescans = 0;
    // Process connector (as of the last drain()); all zero when it is not in use.
    std::uint64_t process_events = 0;     // forks, execs, uid changes and exits recorded
    std::uint64_t process_exec_unread = 0; // execs whose program was gone before it was read
    std::uint64_t process_events_lost = 0; // socket buffer overruns
    std::uint64_t process_sync_timeouts = 0; // reads attributed before the connector caught up
  };

  FanotifySource();
  explicit FanotifySource(Options options);
  ~FanotifySource() override;
  FanotifySource(const FanotifySource&) = delete;
  FanotifySource& operator=(const FanotifySource&) = delete;

  Status start(const agent::CaptureSpec& spec) override;
  int pollable_fd() const override;
  Result<agent::DrainStats> drain(const std::function<void(agent::FileActivity&&)>& sink) override;
  // Read-only closes added to or removed from every filesystem mark, and to those made later.
  Status set_report_reads(bool on) override;
  // The fanotify fd leaves or rejoins the set behind pollable_fd() (records stay queued).
  Status set_wake_on_activity(bool on) override;

  const Counters& counters() const;
  bool using_fan_rename() const;
  // Whether processes are being recorded through the process connector.
  bool using_proc_connector() const;
  // Mount points whose filesystems are marked, for diagnostics.
  std::vector<std::string> watched_filesystems() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::platform
