// fanotify in file-handle mode. Each kernel record names a directory by file handle plus an entry
// name; we turn the handle into a path with open_by_handle_at + readlink(/proc/self/fd/N), filter
// by path in userspace (filesystem marks are all-or-nothing per filesystem), and attach who did it
// from /proc.
#include "platform/linux/fanotify_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <list>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "platform/linux/proc_connector.h"
#include "platform/linux/proc_info.h"
#include "platform/linux/process_history.h"
#include "platform/linux/unique_fd.h"
#include "shared/content_type.h"
#include "shared/log.h"

namespace vigil::platform {
namespace {

constexpr std::string_view kComponent = "capture";
// One read() returns whole records only; 256 KiB holds a few thousand of them.
constexpr std::size_t kReadBufferBytes = 256 * 1024;
// A drain() stops after this many reads even if more is pending, so a storm cannot starve the
// rest of the agent's loop; the fd stays readable and the next poll comes straight back.
constexpr int kMaxReadsPerDrain = 64;
// Record directories kept open within one drain (then all closed, and opened again as needed).
constexpr std::size_t kDirFdsPerDrain = 256;
// Walking up ".." to name a directory deeper than PATH_MAX: bounded so a hostile tree cannot
// keep us busy forever.
constexpr int kMaxWalkDepth = 16384;
// Nesting followed when naming directories removed before we could look (rm -rf).
constexpr int kMaxRemovedDepth = 256;
// How long one drain() waits in all for the process connector's thread to apply the process
// events queued before each read (normally done within microseconds; in a fork storm it may
// fall behind, and records are then attributed with what is known).
constexpr std::int64_t kProcessSyncBudgetNs = 20'000'000;

// What we ask the kernel for. FAN_ONDIR: also directories (mkdir, rmdir, directory renames).
// FAN_EVENT_ON_CHILD is not needed: a filesystem mark sees every inode of the filesystem.
constexpr std::uint64_t kBaseMask = FAN_CREATE | FAN_CLOSE_WRITE | FAN_DELETE | FAN_ONDIR;
constexpr std::uint64_t kRenameMask = kBaseMask | FAN_RENAME;
constexpr std::uint64_t kLegacyMoveMask = kBaseMask | FAN_MOVED_FROM | FAN_MOVED_TO;
// CaptureSpec::report_reads: also closes of files opened read-only (the source of a copy).
constexpr std::uint64_t kReadMask = FAN_CLOSE_NOWRITE;

using Fsid = std::uint64_t;

std::string errno_text(int e) {
  const char* d = strerrordesc_np(e);
  return d != nullptr ? d : "errno " + std::to_string(e);
}

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The clock of the process connector's event times.
std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Fsid fsid_from_statfs(const struct statfs& s) {
  Fsid v = 0;
  static_assert(sizeof s.f_fsid == sizeof v);
  std::memcpy(&v, &s.f_fsid, sizeof v);
  return v;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// path is root or lies below it. Both absolute, without trailing '/' (except "/" itself).
bool is_under(std::string_view path, std::string_view root) {
  if (root == "/") return starts_with(path, "/");
  return starts_with(path, root) && (path.size() == root.size() || path[root.size()] == '/');
}

std::string join_path(const std::string& dir, std::string_view name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out = dir;
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

// Watch and exclude paths are compared against kernel-resolved paths, so resolve symlinks in
// them the same way; a path that does not exist (yet) is kept as written, minus trailing '/'.
Result<std::string> normalize_spec_path(const std::string& p) {
  if (p.empty() || p.front() != '/') return err("capture path must be absolute: \"" + p + "\"");
  if (char* real = ::realpath(p.c_str(), nullptr)) {
    std::string out(real);
    ::free(real);
    return out;
  }
  std::string out = p;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mount table.

// mountinfo writes space, tab, newline and backslash inside paths as \ooo.
std::string unescape_mountinfo(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out.push_back(static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    std::size_t b = line.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    line.remove_prefix(b);
    std::size_t e = line.find(' ');
    out.push_back(line.substr(0, e));
    line.remove_prefix(e == std::string_view::npos ? line.size() : e);
  }
  return out;
}

std::optional<MountEntry> parse_mountinfo_line(std::string_view line) {
  // id parent major:minor root mount_point options [optional fields...] - fstype source super
  auto f = split_spaces(line);
  if (f.size() < 7) return std::nullopt;
  std::size_t dash = 6;
  while (dash < f.size() && f[dash] != "-") ++dash;
  if (dash + 1 >= f.size()) return std::nullopt;
  MountEntry m;
  std::string devs(f[2]);
  if (std::sscanf(devs.c_str(), "%u:%u", &m.major, &m.minor) != 2) return std::nullopt;
  m.root = unescape_mountinfo(f[3]);
  m.mount_point = unescape_mountinfo(f[4]);
  m.fstype = std::string(f[dash + 1]);
  return m;
}

Result<std::vector<MountEntry>> read_mount_table() {
  UniqueFd fd(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (!fd) return err("open /proc/self/mountinfo: " + errno_text(errno));
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err("read /proc/self/mountinfo: " + errno_text(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return parse_mountinfo(text);
}

dev_t dev_of(const MountEntry& m) { return makedev(m.major, m.minor); }

// A filesystem we ask to mark, and the mount we resolve its file handles through.
struct Candidate {
  std::string mount_point;
  dev_t dev = 0;
  bool required = false;  // failing to mark it fails start()
  bool full_view = false; // the mount shows the filesystem's root (not a bind of a subtree)
};

// ---------------------------------------------------------------------------------------------
// Kernel records.

// A directory (by file handle) and an entry name in it, as one info record carries them.
struct DirEntryRef {
  Fsid fsid = 0;
  int handle_type = 0;
  std::string_view handle;  // opaque handle bytes, pointing into the read buffer
  std::string_view name;    // empty or "." when the record is about the directory itself
};

struct Record {
  std::uint64_t mask = 0;
  pid_t pid = 0;
  std::optional<DirEntryRef> dir;      // parent + name of what the event is about
  std::optional<DirEntryRef> old_dir;  // FAN_RENAME: where it was
  std::optional<DirEntryRef> new_dir;  // FAN_RENAME: where it is now
  std::optional<DirEntryRef> object;   // the entry's own handle (FAN_REPORT_TARGET_FID); no name
  int pidfd = -1;                      // never requested; owned by the caller if one comes
};

constexpr std::size_t kFidFsidOffset = offsetof(fanotify_event_info_fid, fsid);
constexpr std::size_t kFidHandleOffset = offsetof(fanotify_event_info_fid, handle);
constexpr std::size_t kHandleBytesOffset = kFidHandleOffset + offsetof(file_handle, handle_bytes);
constexpr std::size_t kHandleTypeOffset = kFidHandleOffset + offsetof(file_handle, handle_type);
constexpr std::size_t kHandleDataOffset = kFidHandleOffset + offsetof(file_handle, f_handle);

// Fields are copied out with memcpy: records are only 4-byte aligned inside the buffer.
std::optional<DirEntryRef> parse_fid_record(const char* rec, std::size_t len, bool named) {
  if (len < kHandleDataOffset) return std::nullopt;
  DirEntryRef r;
  std::memcpy(&r.fsid, rec + kFidFsidOffset, sizeof r.fsid);
  unsigned int bytes = 0;
  std::memcpy(&bytes, rec + kHandleBytesOffset, sizeof bytes);
  std::memcpy(&r.handle_type, rec + kHandleTypeOffset, sizeof r.handle_type);
  if (bytes > MAX_HANDLE_SZ || bytes > len - kHandleDataOffset) return std::nullopt;
  r.handle = std::string_view(rec + kHandleDataOffset, bytes);
  if (named) {
    const char* name = rec + kHandleDataOffset + bytes;
    std::size_t room = len - kHandleDataOffset - bytes;
    const void* nul = std::memchr(name, '\0', room);
    if (nul == nullptr) return std::nullopt;
    r.name = std::string_view(name, static_cast<std::size_t>(static_cast<const char*>(nul) - name));
  }
  return r;
}

// Walks the info records after the metadata. Nothing if any record is inconsistent.
std::optional<Record> parse_record(const char* ev, const fanotify_event_metadata& md) {
  Record r;
  r.mask = md.mask;
  r.pid = md.pid;
  std::size_t off = md.metadata_len;
  while (off < md.event_len) {
    fanotify_event_info_header h{};
    if (md.event_len - off < sizeof h) return std::nullopt;
    std::memcpy(&h, ev + off, sizeof h);
    if (h.len < sizeof h || h.len > md.event_len - off) return std::nullopt;
    const char* rec = ev + off;
    std::optional<DirEntryRef>* slot = nullptr;
    bool named = true;
    switch (h.info_type) {
      case FAN_EVENT_INFO_TYPE_DFID_NAME: slot = &r.dir; break;
      case FAN_EVENT_INFO_TYPE_DFID: if (!r.dir) slot = &r.dir; named = false; break;
      case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME: slot = &r.old_dir; break;
      case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME: slot = &r.new_dir; break;
      case FAN_EVENT_INFO_TYPE_FID: slot = &r.object; named = false; break;
      case FAN_EVENT_INFO_TYPE_PIDFD: {
        fanotify_event_info_pidfd p{};
        if (h.len >= sizeof p) {
          std::memcpy(&p, rec, sizeof p);
          r.pidfd = p.pidfd;
        }
        break;
      }
      default: break;  // error records, types from newer kernels
    }
    if (slot != nullptr) {
      *slot = parse_fid_record(rec, h.len, named);
      if (!*slot) return std::nullopt;
    }
    off += h.len;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Paths of directories.

struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Directory handle -> absolute path, least recently used evicted first. A handle names one
// directory for its whole life, but that directory's path changes when it or an ancestor is
// renamed, so the owner clears the cache on every directory rename it sees.
class DirPathCache {
 public:
  explicit DirPathCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  const std::string* find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->second;
  }
  void put(std::string key, std::string path) {
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(path);
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    if (index_.size() >= capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    lru_.emplace_front(std::move(key), std::move(path));
    index_.emplace(lru_.front().first, lru_.begin());
  }
  void clear() {
    index_.clear();
    lru_.clear();
  }

 private:
  using List = std::list<std::pair<std::string, std::string>>;
  std::size_t capacity_;
  List lru_;
  std::unordered_map<std::string, List::iterator, StringViewHash, std::equal_to<>> index_;
};

// fsid + handle type + handle bytes: unique per directory across filesystems.
std::string cache_key(const DirEntryRef& ref) {
  std::string key;
  key.reserve(sizeof ref.fsid + sizeof ref.handle_type + ref.handle.size());
  key.append(reinterpret_cast<const char*>(&ref.fsid), sizeof ref.fsid);
  key.append(reinterpret_cast<const char*>(&ref.handle_type), sizeof ref.handle_type);
  key.append(ref.handle);
  return key;
}

// The name of the entry of dirfd that is `child` (by device and inode), for walking up.
std::optional<std::string> name_in_dir(int dirfd, const struct stat& parent, const struct stat& child) {
  UniqueFd listing(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing) return std::nullopt;
  DIR* d = ::fdopendir(listing.get());
  if (d == nullptr) return std::nullopt;
  listing.release();  // now owned by d
  std::optional<std::string> found;
  // Same filesystem: d_ino identifies the child. Across a mount point d_ino is the covered
  // directory's, so compare what fstatat sees instead.
  const bool same_dev = parent.st_dev == child.st_dev;
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == "..") continue;
    if (same_dev) {
      if (e->d_ino != child.st_ino) continue;
    } else if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) {
      continue;
    }
    struct stat s {};
    if (::fstatat(dirfd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 && s.st_dev == child.st_dev &&
        s.st_ino == child.st_ino) {
      found = std::string(n);
      break;
    }
  }
  ::closedir(d);
  return found;
}

// For directories deeper than PATH_MAX, which readlink cannot name: climb ".." to the root and
// look each step's name up in its parent. Slow, but only hostile trees get here.
std::optional<std::string> path_by_walking_up(int fd) {
  struct stat cur {};
  if (::fstat(fd, &cur) != 0) return std::nullopt;
  std::vector<std::string> parts;
  UniqueFd owned;
  int at = fd;
  for (int depth = 0;; ++depth) {
    if (depth == kMaxWalkDepth) return std::nullopt;
    UniqueFd parent(::openat(at, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat ps {};
    if (!parent || ::fstat(parent.get(), &ps) != 0) return std::nullopt;
    if (ps.st_dev == cur.st_dev && ps.st_ino == cur.st_ino) break;  // "/" is its own parent
    auto name = name_in_dir(parent.get(), ps, cur);
    if (!name) return std::nullopt;
    parts.push_back(std::move(*name));
    owned = std::move(parent);
    at = owned.get();
    cur = ps;
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + *it;
  return path.empty() ? std::string("/") : path;
}

// The absolute path of an open directory, raw bytes.
std::optional<std::string> path_of_fd(int fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  std::string out(PATH_MAX, '\0');
  ssize_t n = ::readlink(link, out.data(), out.size());
  if (n < 0 && errno == ENAMETOOLONG) return path_by_walking_up(fd);
  if (n < 0) return std::nullopt;
  if (static_cast<std::size_t>(n) == out.size()) return path_by_walking_up(fd);
  out.resize(static_cast<std::size_t>(n));
  // "(unreachable)/..." or "anon_inode:": not a path in our namespace.
  if (out.empty() || out.front() != '/') return std::nullopt;
  // The kernel appends " (deleted)" for a directory removed meanwhile; its last path is still
  // the right answer for events that happened before. A name that really ends so has links.
  constexpr std::string_view kDeleted = " (deleted)";
  if (out.size() > kDeleted.size() && out.ends_with(kDeleted)) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_nlink == 0) out.resize(out.size() - kDeleted.size());
  }
  return out;
}

// Directory fd from a file handle; needs CAP_DAC_READ_SEARCH.
UniqueFd open_handle(int mount_fd, const DirEntryRef& ref) {
  alignas(file_handle) unsigned char storage[sizeof(file_handle) + MAX_HANDLE_SZ];
  auto* fh = reinterpret_cast<file_handle*>(storage);
  fh->handle_bytes = static_cast<unsigned int>(ref.handle.size());
  fh->handle_type = ref.handle_type;
  std::memcpy(fh->f_handle, ref.handle.data(), ref.handle.size());
  return UniqueFd(::open_by_handle_at(mount_fd, fh, O_PATH | O_CLOEXEC));
}

void fill_from_stat(agent::FileActivity& a, const struct stat& st) {
  a.size = static_cast<std::uint64_t>(st.st_size);
  a.inode = static_cast<std::uint64_t>(st.st_ino);
  a.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  a.is_dir = a.is_dir || S_ISDIR(st.st_mode);
}

std::string describe_init_error(int e) {
  std::string msg = "fanotify_init: " + errno_text(e);
  switch (e) {
    case EPERM: return msg + " (needs CAP_SYS_ADMIN)";
    case EINVAL: return msg + " (kernel lacks FAN_REPORT_DFID_NAME; needs Linux >= 5.9)";
    case ENOSYS: return msg + " (kernel built without CONFIG_FANOTIFY)";
    case EMFILE: return msg + " (too many fanotify groups: fs.fanotify.max_user_groups)";
    default: return msg;
  }
}

std::string describe_mark_error(int e, const std::string& where) {
  std::string msg = "fanotify_mark(FAN_MARK_FILESYSTEM) on \"" + where + "\": " + errno_text(e);
  switch (e) {
    case EPERM: return msg + " (needs CAP_SYS_ADMIN)";
    case ENODEV:
    case EOPNOTSUPP:
      return msg + " (filesystem cannot report file handles, e.g. FUSE or a zero fsid)";
    case EXDEV: return msg + " (subvolume or idmapped mount with its own fsid)";
    case ENOSPC: return msg + " (too many marks: fs.fanotify.max_user_marks)";
    default: return msg;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers.

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
  std::vector<MountEntry> out;
  std::string_view rest(text);
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (auto m = parse_mountinfo_line(line)) out.push_back(std::move(*m));
  }
  return out;
}

bool is_pseudo_filesystem(const MountEntry& m) {
  // Kernel and runtime state rather than user files; most cannot report file handles anyway.
  static const std::set<std::string_view> kKernelState = {
      "proc",      "sysfs",      "devtmpfs", "devpts",     "mqueue",   "debugfs",
      "tracefs",   "securityfs", "pstore",   "bpf",        "configfs", "fusectl",
      "hugetlbfs", "autofs",     "nsfs",     "binfmt_misc", "rpc_pipefs", "efivarfs",
      "selinuxfs", "cgroup",     "cgroup2",  "nfsd",       "ramfs",    "fuse.lxcfs",
      "fuse.portal", "fuse.gvfsd-fuse", "fuse.snapfuse"};
  // Read-only images (snaps, live media, app images): nothing can be written there.
  static const std::set<std::string_view> kReadOnlyImages = {"squashfs", "erofs", "iso9660"};
  if (kKernelState.contains(m.fstype) || kReadOnlyImages.contains(m.fstype)) return true;
  // overlay: container root filesystems. Their writes land in the upper directory, which lives on
  // a disk filesystem that is marked itself; the lower layers are read-only by construction.
  if (m.fstype == "overlay") return true;
  // Whatever is mounted below /proc and /sys is kernel state, whatever its type.
  if (is_under(m.mount_point, "/proc") || is_under(m.mount_point, "/sys")) return true;
  // tmpfs under /run and /dev holds sockets, pid files, udev state and shared memory segments;
  // the churn would cost more than it tells. tmpfs elsewhere (/tmp) may hold user files: kept.
  if (m.fstype == "tmpfs" && (is_under(m.mount_point, "/run") || is_under(m.mount_point, "/dev")))
    return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The source.

struct FanotifySource::Impl {
  struct MarkedFs {
    std::string mount_point;  // opened per drain to decode handles; never held in between
    dev_t dev = 0;            // to notice when it is unmounted
  };
  struct PendingMove {       // legacy pairing: a FAN_MOVED_FROM waiting for its FAN_MOVED_TO
    std::string path;
    bool is_dir = false;
    std::int64_t time_ns = 0;
  };
  using Sink = std::function<void(agent::FileActivity&&)>;

  Options opt;
  Counters counters;
  bool started = false;
  pid_t self = 0;
  UniqueFd fan;
  UniqueFd epoll;          // what pollable_fd() returns: fan (while fan_wakes) + mount_wake
  bool fan_wakes = true;   // fan is in the epoll set (set_wake_on_activity)
  UniqueFd mount_wake;     // /proc/self/mountinfo in the epoll set, wakes the loop on changes
  UniqueFd mount_check;    // a second open, polled by drain(): poll on mount_wake consumes
  std::vector<std::string> roots;  // empty: every real filesystem
  std::vector<std::string> excludes;
  bool fan_rename = true;
  bool target_fid = true;  // FAN_REPORT_TARGET_FID accepted
  std::uint64_t mask = kRenameMask;
  bool report_reads = false;
  std::unordered_map<Fsid, MarkedFs> marked;
  std::set<dev_t> given_up;  // marks that failed; not retried at every mount change
  std::unordered_map<Fsid, UniqueFd> mount_fds;  // opened lazily within one drain()
  std::unordered_map<std::string, UniqueFd> dir_fds;  // record directories, within one drain()
  DirPathCache dirs;
  ProcessInfoCache procs;
  std::unique_ptr<ProcConnector> connector;  // null: /proc at drain time only
  std::unordered_map<pid_t, PendingMove> moved_from;
  // Directories removed in the current read buffer: own handle -> parent + name (views into buf).
  std::unordered_map<std::string, DirEntryRef> removed_dirs;
  std::vector<char> buf;

  explicit Impl(Options o) : opt(o), fan_rename(o.use_fan_rename), dirs(o.dir_cache_capacity) {
    mask = fan_rename ? kRenameMask : kLegacyMoveMask;
  }

  // --- start ---------------------------------------------------------------------------------

  Status start(const agent::CaptureSpec& spec) {
    if (started) return err("capture already started");
    forget_failed_start();
    if (Status s = normalize_spec(spec); !s) return s;
    report_reads = spec.report_reads;
    self = ::getpid();
    if (Status s = init_group(); !s) return s;
    auto table = read_mount_table();
    if (!table) return err(table.error());
    if (Status s = mark_filesystems(*table, /*initial=*/true); !s) return s;
    if (Status s = setup_poll(); !s) return s;
    buf.resize(kReadBufferBytes);
    if (opt.use_proc_connector) open_connector();
    started = true;
    return {};
  }

  // Not being able to listen costs attribution of short-lived processes, not capture.
  void open_connector() {
    ProcessHistory::Limits limits;
    limits.capacity = opt.process_history_capacity;
    limits.grace_ns = opt.process_exit_grace_ns;
    auto history = std::make_shared<ProcessHistory>(limits);
    ProcConnector::Options copt;
    copt.realtime = opt.proc_connector_realtime;
    auto c = ProcConnector::open(history, copt);
    if (!c) {
      static std::atomic<bool> logged{false};
      if (!logged.exchange(true))
        log::warn(kComponent, "process events unavailable; processes are read from /proc when "
                              "their activity is drained, so ones that exit quickly lose their "
                              "attribution", {{"error", c.error()}});
      return;
    }
    connector = std::move(*c);
    procs.use_history(std::move(history));
    log::debug(kComponent, "recording processes through the process connector",
               {{"scheduling", connector->scheduling()}});
  }

  // A start() that failed half-way may be retried: begin from nothing again.
  void forget_failed_start() {
    procs.use_history(nullptr);
    connector.reset();
    epoll.reset();
    mount_wake.reset();
    mount_check.reset();
    fan.reset();
    roots.clear();
    excludes.clear();
    marked.clear();
    given_up.clear();
    fan_rename = opt.use_fan_rename;
    mask = fan_rename ? kRenameMask : kLegacyMoveMask;
  }

  // FAN_REPORT_TARGET_FID (5.17+) adds the entry's own handle to create/delete records. That
  // matters because the kernel merges queued records whose info is identical: with it, only
  // records about the same inode merge (create+write+delete of one file -> one record, order
  // clear); without it, create and delete of a name merge but the close-write between them does
  // not, so order has to be guessed.
  Status init_group() {
    constexpr unsigned kClass = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
    constexpr unsigned kEventFlags = O_RDONLY | O_LARGEFILE | O_CLOEXEC;
    fan.reset(::fanotify_init(kClass | FAN_REPORT_DFID_NAME_TARGET, kEventFlags));
    target_fid = fan.valid();
    if (!fan && errno == EINVAL)
      fan.reset(::fanotify_init(kClass | FAN_REPORT_DFID_NAME | FAN_REPORT_FID, kEventFlags));
    if (!fan) return err(describe_init_error(errno));
    return {};
  }

  Status normalize_spec(const agent::CaptureSpec& spec) {
    for (const auto& p : spec.watch_paths) {
      auto n = normalize_spec_path(p);
      if (!n) return err(n.error());
      roots.push_back(std::move(*n));
    }
    for (const auto& p : spec.exclude_paths) {
      auto n = normalize_spec_path(p);
      if (!n) return err(n.error());
      excludes.push_back(std::move(*n));
    }
    return {};
  }

  Status setup_poll() {
    epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return err("epoll_create1: " + errno_text(errno));
    mount_wake.reset(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
    mount_check.reset(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
    if (!mount_wake || !mount_check) return err("open /proc/self/mountinfo: " + errno_text(errno));
    fan_wakes = false;
    if (auto s = set_wake_on_activity(true); !s) return s;
    epoll_event ev{};
    ev.events = EPOLLPRI;  // mountinfo signals a mount-table change as POLLPRI|POLLERR
    ev.data.fd = mount_wake.get();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, mount_wake.get(), &ev) != 0)
      return err("epoll_ctl(mountinfo): " + errno_text(errno));
    return {};
  }

  // --- marks ---------------------------------------------------------------------------------

  // Watch paths given: the filesystem holding each path (resolved through the mount that holds
  // it, so paths come out under it) plus every real filesystem mounted below a watch path.
  Result<std::vector<Candidate>> watch_candidates(const std::vector<MountEntry>& table,
                                                  bool initial) const {
    std::vector<Candidate> out;
    for (const auto& root : roots) {
      struct stat st {};
      if (::stat(root.c_str(), &st) != 0) {
        if (initial) return err("watch path \"" + root + "\": " + errno_text(errno));
        continue;
      }
      Candidate c{root, st.st_dev, true, false};
      std::size_t best = 0;
      for (const auto& m : table) {
        // Ties go to the later line: a mount stacked on the same point hides the earlier one.
        if (dev_of(m) == st.st_dev && is_under(root, m.mount_point) && m.mount_point.size() >= best) {
          best = m.mount_point.size();
          c.mount_point = m.mount_point;
        }
      }
      out.push_back(std::move(c));
      for (const auto& m : table) {
        if (m.mount_point != root && is_under(m.mount_point, root) && !is_pseudo_filesystem(m))
          out.push_back(Candidate{m.mount_point, dev_of(m), false, m.root == "/"});
      }
    }
    return out;
  }

  // No watch paths: every real filesystem once, through a mount that shows its root if any.
  std::vector<Candidate> whole_candidates(const std::vector<MountEntry>& table) const {
    std::vector<Candidate> out;
    std::unordered_map<dev_t, std::size_t> seen;
    for (const auto& m : table) {
      if (is_pseudo_filesystem(m)) continue;
      Candidate c{m.mount_point, dev_of(m), false, m.root == "/"};
      auto [it, fresh] = seen.emplace(c.dev, out.size());
      if (fresh) {
        out.push_back(std::move(c));
      } else if (!out[it->second].full_view && c.full_view) {
        out[it->second] = std::move(c);
      }
    }
    return out;
  }

  bool dev_marked(dev_t dev) const {
    for (const auto& [fsid, fs] : marked)
      if (fs.dev == dev) return true;
    return false;
  }

  Status mark_filesystems(const std::vector<MountEntry>& table, bool initial) {
    std::vector<Candidate> wanted;
    if (roots.empty()) {
      wanted = whole_candidates(table);
    } else {
      auto w = watch_candidates(table, initial);
      if (!w) return err(w.error());
      wanted = std::move(*w);
    }
    for (const auto& c : wanted) {
      if (dev_marked(c.dev) || (!c.required && given_up.contains(c.dev))) continue;
      Status s = mark_one(c);
      if (s) continue;
      if (c.required && initial) return s;
      ++counters.mark_failures;
      given_up.insert(c.dev);
      log::warn(kComponent, "filesystem not watched", {{"mount", c.mount_point}, {"error", s.error()}});
    }
    if (!initial) forget_unmounted(table);
    if (marked.empty()) return err("no filesystem could be watched");
    return {};
  }

  Status mark_one(const Candidate& c) {
    UniqueFd dir(::open(c.mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return err("open \"" + c.mount_point + "\": " + errno_text(errno));
    struct stat st {};
    struct statfs sfs {};
    if (::fstat(dir.get(), &st) != 0 || ::fstatfs(dir.get(), &sfs) != 0)
      return err("stat \"" + c.mount_point + "\": " + errno_text(errno));
    if (st.st_dev != c.dev) return err("\"" + c.mount_point + "\" is covered by another mount");
    const Fsid fsid = fsid_from_statfs(sfs);
    if (marked.contains(fsid)) return {};  // same superblock reached through another device
    const std::uint64_t reads = report_reads ? kReadMask : 0;
    int rc = ::fanotify_mark(fan.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask | reads, dir.get(), nullptr);
    if (rc != 0 && errno == EINVAL && fan_rename) {
      // Kernels before 5.17 refuse FAN_RENAME: pair FAN_MOVED_FROM/FAN_MOVED_TO instead.
      rc = ::fanotify_mark(fan.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kLegacyMoveMask | reads, dir.get(),
                           nullptr);
      if (rc == 0) {
        fan_rename = false;
        mask = kLegacyMoveMask;
        log::info(kComponent, "FAN_RENAME refused; pairing FAN_MOVED_FROM/FAN_MOVED_TO");
      }
    }
    if (rc != 0) return err(describe_mark_error(errno, c.mount_point));
    marked[fsid] = MarkedFs{c.mount_point, c.dev};
    ++counters.filesystems_marked;
    return {};
  }

  // Adds or removes read-only closes on every marked filesystem; new marks follow report_reads.
  Status set_report_reads(bool on) {
    if (on == report_reads) return {};
    report_reads = on;
    std::string failed;
    for (const auto& [fsid, fs] : marked) {
      // Opened here and closed at once, not through mount_fd()'s per-drain cache: between drains
      // nothing may keep a watched filesystem busy (a stick must unmount).
      const UniqueFd dir = open_mount_point(fsid);
      const unsigned how = (on ? FAN_MARK_ADD : FAN_MARK_REMOVE) | FAN_MARK_FILESYSTEM;
      if (!dir || ::fanotify_mark(fan.get(), how, kReadMask, dir.get(), nullptr) != 0)
        failed += (failed.empty() ? "" : ", ") + fs.mount_point + (!dir ? " (unreachable)" : ": " + errno_text(errno));
    }
    if (!failed.empty()) return err(std::string(on ? "reporting reads" : "dropping reads") + " on " + failed);
    return {};
  }

  // With the fanotify fd in the epoll set, every record the kernel queues runs an epoll callback
  // in the writer's context (under the queue's wait-queue lock, interrupts off); out of it the
  // writer only finds an empty wait queue. Adding it back reports records already queued at once.
  Status set_wake_on_activity(bool on) {
    if (on == fan_wakes) return {};
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fan.get();
    if (::epoll_ctl(epoll.get(), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fan.get(), &ev) != 0)
      return err(std::string("epoll_ctl(fanotify, ") + (on ? "add" : "remove") + "): " + errno_text(errno));
    fan_wakes = on;
    return {};
  }

  // The kernel drops a filesystem's mark when it is unmounted; forget its mount point too.
  void forget_unmounted(const std::vector<MountEntry>& table) {
    std::set<dev_t> present;
    for (const auto& m : table) present.insert(dev_of(m));
    std::erase_if(marked, [&](const auto& kv) { return !present.contains(kv.second.dev); });
    std::erase_if(given_up, [&](dev_t d) { return !present.contains(d); });
  }

  bool mounts_changed() const {
    pollfd p{mount_check.get(), POLLPRI, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR)) != 0;
  }

  void rescan_mounts() {
    ++counters.mount_rescans;
    auto table = read_mount_table();
    if (!table) {
      log::warn(kComponent, "mount table unreadable", {{"error", table.error()}});
      return;
    }
    std::vector<std::pair<Fsid, std::string>> before;
    for (const auto& [fsid, fs] : marked) before.emplace_back(fsid, fs.mount_point);
    (void)mark_filesystems(*table, /*initial=*/false);
    // Cached paths were resolved through the old set of mount points; a mount elsewhere (a
    // container starting) changes nothing we resolve through, so keep the cache then.
    bool same = before.size() == marked.size();
    for (const auto& [fsid, mp] : before) {
      auto it = marked.find(fsid);
      same = same && it != marked.end() && it->second.mount_point == mp;
    }
    if (!same) dirs.clear();
  }

  // --- resolving paths -------------------------------------------------------------------------

  // The marked filesystem's mount point, opened; empty when it now shows something else.
  UniqueFd open_mount_point(Fsid fsid) const {
    UniqueFd fd;
    if (auto m = marked.find(fsid); m != marked.end()) {
      fd.reset(::open(m->second.mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      struct statfs sfs {};
      // The mount point may now show something else (unmounted, remounted over).
      if (fd && (::fstatfs(fd.get(), &sfs) != 0 || fsid_from_statfs(sfs) != fsid)) fd.reset();
    }
    return fd;
  }

  int mount_fd(Fsid fsid) {
    if (auto it = mount_fds.find(fsid); it != mount_fds.end()) return it->second.get();
    UniqueFd fd = open_mount_point(fsid);
    int raw = fd.get();
    mount_fds.emplace(fsid, std::move(fd));  // remember failures too, for this drain
    return raw;
  }

  std::optional<std::string> dir_path(const DirEntryRef& ref, int depth = 0) {
    std::string key = cache_key(ref);
    if (const std::string* hit = dirs.find(key)) {
      ++counters.dir_cache_hits;
      return *hit;
    }
    ++counters.dir_cache_misses;
    auto path = resolve_live(ref);
    if (!path) path = resolve_removed(key, depth);
    if (path) dirs.put(std::move(key), *path);
    return path;
  }

  std::optional<std::string> resolve_live(const DirEntryRef& ref) {
    int mfd = mount_fd(ref.fsid);
    if (mfd < 0) return std::nullopt;
    UniqueFd dir = open_handle(mfd, ref);
    if (!dir) return std::nullopt;  // ESTALE: removed before we looked
    return path_of_fd(dir.get());
  }

  // rm -rf: the entries' records come first, naming a directory that is gone by the time we
  // read them. Its own removal record, later in the same read, says where it was.
  std::optional<std::string> resolve_removed(const std::string& key, int depth) {
    if (depth >= kMaxRemovedDepth) return std::nullopt;
    auto it = removed_dirs.find(key);
    if (it == removed_dirs.end()) return std::nullopt;
    const DirEntryRef where = it->second;
    auto parent = dir_path(where, depth + 1);
    if (!parent) return std::nullopt;
    return join_path(*parent, where.name);
  }

  std::optional<std::string> entry_path(const DirEntryRef& ref) {
    auto dir = dir_path(ref);
    if (!dir || ref.name.empty() || ref.name == ".") return dir;
    return join_path(*dir, ref.name);
  }

  bool in_scope(const std::string& path) const {
    for (const auto& e : excludes)
      if (is_under(path, e)) return false;
    if (roots.empty()) return true;
    for (const auto& r : roots)
      if (is_under(path, r)) return true;
    return false;
  }

  // What lstat said of a record's entry: taken at most once per record, however many actions
  // the kernel merged into it (a new file's create and close-after-write come as one record).
  struct EntryStat {
    bool taken = false;
    bool found = false;
    struct stat st {};
  };

  // The record's directory, opened (O_PATH) from its handle once per drain: looking an entry up
  // relative to it is one path component, where a lookup by path walks every component again
  // (that walk was a third of the agent's CPU). -1 when it cannot be opened (gone).
  int dir_fd(const DirEntryRef& ref) {
    std::string key = cache_key(ref);
    if (auto it = dir_fds.find(key); it != dir_fds.end()) return it->second.get();
    if (dir_fds.size() >= kDirFdsPerDrain) dir_fds.clear();
    int mfd = mount_fd(ref.fsid);
    UniqueFd dir = mfd >= 0 ? open_handle(mfd, ref) : UniqueFd();
    int raw = dir.get();
    dir_fds.emplace(std::move(key), std::move(dir));  // failures too, for this drain
    return raw;
  }

  static bool names_an_entry(const DirEntryRef* ref) {
    return ref != nullptr && !ref->name.empty() && ref->name != "." && ref->name.find('/') == std::string_view::npos;
  }

  // Relative to the record's directory; by path when that cannot be opened.
  bool lookup_entry(const std::string& path, const DirEntryRef* ref, struct stat& st) {
    if (names_an_entry(ref)) {
      if (int dir = dir_fd(*ref); dir >= 0) {
        const std::string name(ref->name);
        return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;  // fails: gone already
      }
    }
    return ::lstat(path.c_str(), &st) == 0;
  }

  // A written regular file's first bytes, read through its directory (no second walk of the
  // path). nullopt when it cannot be opened here: the deriver then tries by path.
  std::optional<ContentType> sniff_entry(const DirEntryRef* ref, const struct stat& st) {
    if (!names_an_entry(ref) || !S_ISREG(st.st_mode)) return std::nullopt;
    int dir = dir_fd(*ref);
    if (dir < 0) return std::nullopt;
    const std::string name(ref->name);
    constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW;
    UniqueFd fd(::openat(dir, name.c_str(), kFlags | O_NOATIME));
    if (!fd && errno == EPERM) fd.reset(::openat(dir, name.c_str(), kFlags));  // not ours, no CAP_FOWNER
    struct stat now {};
    if (!fd || ::fstat(fd.get(), &now) != 0 || !S_ISREG(now.st_mode)) return std::nullopt;
    auto sniffed = sniff_fd(fd.get(), static_cast<std::size_t>(now.st_size));
    if (!sniffed) return std::nullopt;
    return *sniffed;
  }

  const EntryStat& stat_entry(const std::string& path, const DirEntryRef* ref, EntryStat& es) {
    if (!es.taken) {
      es.taken = true;
      es.found = lookup_entry(path, ref, es.st);
    }
    return es;
  }

  // --- turning records into activities --------------------------------------------------------

  void emit(agent::FileAction action, std::string path, std::string old_path, bool is_dir,
            const agent::ProcessInfo& proc, std::int64_t now, const DirEntryRef* ref,
            const Sink& sink, agent::DrainStats& stats, EntryStat* entry = nullptr) {
    agent::FileActivity a;
    a.action = action;
    a.path = std::move(path);
    a.old_path = std::move(old_path);
    a.is_dir = is_dir;
    a.time_ns = now;
    a.process = proc;
    EntryStat own;
    EntryStat& es = entry ? *entry : own;
    if (action == agent::FileAction::Read) {
      // Reads matter only for regular files that are still there (not FIFOs, devices, sockets).
      if (!stat_entry(a.path, ref, es).found || !S_ISREG(es.st.st_mode)) return;
      fill_from_stat(a, es.st);
    } else if (action != agent::FileAction::Delete) {
      if (stat_entry(a.path, ref, es).found) fill_from_stat(a, es.st);  // gone already: zeros
      if (action == agent::FileAction::Write && es.found && !is_dir) a.content = sniff_entry(ref, es.st);
    }
    sink(std::move(a));
    ++stats.activities;
  }

  void handle_record(const char* ev, const fanotify_event_metadata& md, std::int64_t now,
                     const Sink& sink, agent::DrainStats& stats) {
    ++counters.records;
    if (md.mask & FAN_Q_OVERFLOW) {
      ++stats.overflows;
      dirs.clear();  // renames may be among what was lost
      log::warn(kComponent, "fanotify queue overflow: activity lost");
      return;
    }
    auto rec = parse_record(ev, md);
    if (!rec) {
      ++counters.malformed;
      return;
    }
    UniqueFd pidfd(rec->pidfd);  // not requested; if a future flag ever brings one, do not leak it
    const bool dir_moved =
        (rec->mask & FAN_ONDIR) && (rec->mask & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO));
    if (opt.drop_own_events && rec->pid == self) {
      ++counters.own;
      if (dir_moved) dirs.clear();
      return;
    }
    if (rec->mask & FAN_RENAME) {
      handle_rename(*rec, now, sink, stats);
    } else if (rec->mask & (FAN_MOVED_FROM | FAN_MOVED_TO)) {
      handle_legacy_move(*rec, now, sink, stats);
    } else {
      handle_dirent(*rec, now, sink, stats);
    }
    // After resolving this record's own directories (which a rename never moves): every path
    // below the moved directory just changed.
    if (dir_moved) dirs.clear();
  }

  // Create, close-after-write, delete; possibly several merged into one record by the kernel.
  void handle_dirent(const Record& rec, std::int64_t now, const Sink& sink, agent::DrainStats& stats) {
    using agent::FileAction;
    if (!rec.dir) {
      ++counters.malformed;
      return;
    }
    auto path = entry_path(*rec.dir);
    if (!path) {
      ++counters.unresolved;
      return;
    }
    if (!in_scope(*path)) {
      ++counters.out_of_scope;
      return;
    }
    const bool created = rec.mask & FAN_CREATE;
    const bool written = rec.mask & FAN_CLOSE_WRITE;
    const bool deleted = rec.mask & FAN_DELETE;
    // A read-only close of a regular file (directories are closed after every listing).
    const bool read = report_reads && (rec.mask & FAN_CLOSE_NOWRITE) && !(rec.mask & FAN_ONDIR) && !deleted;
    std::vector<FileAction> actions;
    if (created && deleted) {
      // Merged by the kernel. With target fids both were about one inode: created, then removed.
      // Without, the name may have been replaced: if it exists now, most likely delete then
      // create, otherwise created and removed again.
      struct stat st {};
      const bool exists_now = !target_fid && ::lstat(path->c_str(), &st) == 0;
      if (exists_now) actions.push_back(FileAction::Delete);
      actions.push_back(FileAction::Create);
      if (written) actions.push_back(FileAction::Write);
      if (!exists_now) actions.push_back(FileAction::Delete);
    } else {
      if (created) actions.push_back(FileAction::Create);
      if (written) actions.push_back(FileAction::Write);
      if (deleted) actions.push_back(FileAction::Delete);
      if (read) actions.push_back(FileAction::Read);
    }
    if (actions.empty()) return;
    const agent::ProcessInfo proc = procs.lookup(rec.pid);
    const bool is_dir = rec.mask & FAN_ONDIR;
    EntryStat entry;
    for (FileAction a : actions) emit(a, *path, {}, is_dir, proc, now, &*rec.dir, sink, stats, &entry);
  }

  void handle_rename(const Record& rec, std::int64_t now, const Sink& sink, agent::DrainStats& stats) {
    if (!rec.old_dir || !rec.new_dir) {
      ++counters.malformed;
      return;
    }
    auto to = entry_path(*rec.new_dir);
    if (!to) {
      ++counters.unresolved;
      return;
    }
    // The old parent is almost always resolvable too; if not, the rename is still worth more
    // with an empty old_path than dropped.
    auto from = entry_path(*rec.old_dir);
    emit_rename(from.value_or(std::string()), std::move(*to), rec.mask & FAN_ONDIR, rec.pid, now,
                &*rec.new_dir, sink, stats);
  }

  void emit_rename(std::string from, std::string to, bool is_dir, pid_t pid, std::int64_t now,
                   const DirEntryRef* to_ref, const Sink& sink, agent::DrainStats& stats) {
    // Moving something into or out of the watched area both matter.
    if (!in_scope(to) && (from.empty() || !in_scope(from))) {
      ++counters.out_of_scope;
      return;
    }
    emit(agent::FileAction::Rename, std::move(to), std::move(from), is_dir, procs.lookup(pid), now,
         to_ref, sink, stats);
  }

  // Pre-5.17 kernels: the two halves of a rename arrive as consecutive records of the same
  // process without a cookie; pair them per pid.
  void handle_legacy_move(const Record& rec, std::int64_t now, const Sink& sink,
                          agent::DrainStats& stats) {
    if (!rec.dir) {
      ++counters.malformed;
      return;
    }
    auto path = entry_path(*rec.dir);
    if (!path) {
      ++counters.unresolved;
      return;
    }
    const bool is_dir = rec.mask & FAN_ONDIR;
    if (rec.mask & FAN_MOVED_FROM) {
      if (auto it = moved_from.find(rec.pid); it != moved_from.end()) {
        flush_move(rec.pid, it->second, sink, stats);
        moved_from.erase(it);
      }
      moved_from[rec.pid] = PendingMove{*path, is_dir, now};
    }
    if (rec.mask & FAN_MOVED_TO) {
      auto it = moved_from.find(rec.pid);
      if (it == moved_from.end()) {
        // Only the arrival was seen: to the user it is a new entry.
        ++counters.unpaired_moves;
        if (in_scope(*path)) {
          emit(agent::FileAction::Create, *path, {}, is_dir, procs.lookup(rec.pid), now, &*rec.dir,
               sink, stats);
        } else {
          ++counters.out_of_scope;
        }
        return;
      }
      std::string from = std::move(it->second.path);
      moved_from.erase(it);
      emit_rename(std::move(from), std::move(*path), is_dir, rec.pid, now, &*rec.dir, sink, stats);
    }
  }

  // A departure without its arrival: to the user the entry is gone.
  void flush_move(pid_t pid, PendingMove& m, const Sink& sink, agent::DrainStats& stats) {
    ++counters.unpaired_moves;
    if (!in_scope(m.path)) {
      ++counters.out_of_scope;
      return;
    }
    emit(agent::FileAction::Delete, std::move(m.path), {}, m.is_dir, procs.lookup(pid), m.time_ns,
         nullptr, sink, stats);
  }

  // --- drain -----------------------------------------------------------------------------------

  Result<agent::DrainStats> drain(const Sink& sink) {
    if (!started) return err("capture not started");
    agent::DrainStats stats;
    if (mounts_changed()) rescan_mounts();
    bool emptied = false;
    Status s = read_all(sink, stats, emptied);
    // The rename's other half is queued in the same syscall as the first; if the queue is empty
    // and it has not come, it is not coming.
    if (emptied) {
      for (auto& [pid, m] : moved_from) flush_move(pid, m, sink, stats);
      moved_from.clear();
    }
    dir_fds.clear();    // never keep a watched filesystem busy between drains (umount of a USB)
    mount_fds.clear();
    if (connector) {
      const auto pc = connector->counters();
      counters.process_events = pc.events;
      counters.process_exec_unread = pc.exec_unread;
      counters.process_events_lost = pc.overruns;
    }
    if (!s) return err(s.error());
    return stats;
  }

  // Reads until the queue is empty (`emptied`) or the per-drain budget is spent.
  Status read_all(const Sink& sink, agent::DrainStats& stats, bool& emptied) {
    // Waiting for the process connector is budgeted per drain, not per read: a fork storm it
    // cannot keep up with must not stall capture.
    const std::int64_t sync_deadline = monotonic_ns() + kProcessSyncBudgetNs;
    for (int reads = 0; reads < kMaxReadsPerDrain; ++reads) {
      ssize_t n = ::read(fan.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) || n == 0) {
        emptied = true;
        return {};
      }
      if (n < 0) return err("read(fanotify): " + errno_text(errno));
      // Every record in it was queued before now: a process generation that began later cannot
      // have caused it, and every fork or exec that came before its records is already queued on
      // the connector's socket. Have those applied before attributing anything.
      const std::int64_t read_at = monotonic_ns();
      if (connector && !connector->sync(read_at, sync_deadline)) ++counters.process_sync_timeouts;
      procs.new_batch(read_at);
      if (Status s = handle_buffer(static_cast<std::size_t>(n), realtime_ns(), sink, stats); !s)
        return s;
    }
    return {};
  }

  Status handle_buffer(std::size_t len, std::int64_t now, const Sink& sink, agent::DrainStats& stats) {
    removed_dirs.clear();
    if (target_fid) {
      Status s = for_each_record(len, false, [&](const char* p, const fanotify_event_metadata& md) {
        index_removed_dir(p, md);
      });
      if (!s) return s;
    }
    Status s = for_each_record(len, true, [&](const char* p, const fanotify_event_metadata& md) {
      UniqueFd event_fd(md.fd >= 0 ? md.fd : -1);  // file-handle mode sends none; be sure
      handle_record(p, md, now, sink, stats);
    });
    removed_dirs.clear();  // its views point into buf
    return s;
  }

  void index_removed_dir(const char* p, const fanotify_event_metadata& md) {
    if ((md.mask & FAN_DELETE) == 0 || (md.mask & FAN_ONDIR) == 0) return;
    auto rec = parse_record(p, md);
    if (rec && rec->object && rec->dir) removed_dirs.insert_or_assign(cache_key(*rec->object), *rec->dir);
  }

  // Calls fn(record bytes, metadata) for each whole record in the first len bytes of buf.
  template <typename Fn>
  Status for_each_record(std::size_t len, bool count_damage, Fn&& fn) {
    const char* p = buf.data();
    while (len >= FAN_EVENT_METADATA_LEN) {
      fanotify_event_metadata md{};
      std::memcpy(&md, p, sizeof md);
      if (md.vers != FANOTIFY_METADATA_VERSION)
        return err("fanotify metadata version " + std::to_string(md.vers) + ", expected " +
                   std::to_string(FANOTIFY_METADATA_VERSION));
      if (md.event_len < FAN_EVENT_METADATA_LEN || md.event_len > len ||
          md.metadata_len < FAN_EVENT_METADATA_LEN || md.metadata_len > md.event_len) {
        // The next record cannot be found either: drop the rest of this read.
        if (count_damage) ++counters.malformed;
        return {};
      }
      fn(p, md);
      p += md.event_len;
      len -= md.event_len;
    }
    return {};
  }
};

// ---------------------------------------------------------------------------------------------

FanotifySource::FanotifySource() : FanotifySource(Options{}) {}
FanotifySource::FanotifySource(Options options) : impl_(std::make_unique<Impl>(options)) {}
FanotifySource::~FanotifySource() = default;

Status FanotifySource::start(const agent::CaptureSpec& spec) { return impl_->start(spec); }

int FanotifySource::pollable_fd() const { return impl_->epoll.get(); }

Result<agent::DrainStats> FanotifySource::drain(
    const std::function<void(agent::FileActivity&&)>& sink) {
  return impl_->drain(sink);
}

Status FanotifySource::set_report_reads(bool on) { return impl_->set_report_reads(on); }

Status FanotifySource::set_wake_on_activity(bool on) { return impl_->set_wake_on_activity(on); }

const FanotifySource::Counters& FanotifySource::counters() const { return impl_->counters; }

bool FanotifySource::using_fan_rename() const { return impl_->fan_rename; }

bool FanotifySource::using_proc_connector() const { return impl_->connector != nullptr; }

std::vector<std::string> FanotifySource::watched_filesystems() const {
  std::vector<std::string> out;
  for (const auto& [fsid, fs] : impl_->marked) out.push_back(fs.mount_point);
  return out;
}

}  // namespace vigil::platform

namespace vigil::agent {

std::unique_ptr<FileActivitySource> make_file_activity_source() {
  return std::make_unique<platform::FanotifySource>();
}

}  // namespace vigil::agent
