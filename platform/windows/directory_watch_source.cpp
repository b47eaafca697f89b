#include "platform/windows/directory_watch_source.h"

#include <algorithm>
#include <cwctype>

namespace vigil::win {

namespace {
constexpr DWORD kBufferBytes = 64 * 1024;  // the most a network share accepts
constexpr DWORD kFilter = FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_DIR_NAME | FILE_NOTIFY_CHANGE_SIZE |
                          FILE_NOTIFY_CHANGE_LAST_WRITE | FILE_NOTIFY_CHANGE_CREATION;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The agent's paths are '/'-separated (its reconciler, checkpoint and deriver split on '/'), so
// Windows paths are reported in their generic form: C:/Users/alice/report.docx.
std::string generic(std::string p) {
  std::replace(p.begin(), p.end(), '\\', '/');
  return p;
}

// Size, mtime, and whether it is a directory, for a path that may already be gone.
void stat_into(agent::FileActivity& a) {
  WIN32_FILE_ATTRIBUTE_DATA d{};
  if (!GetFileAttributesExW(widen(a.path).c_str(), GetFileExInfoStandard, &d)) return;
  a.is_dir = (d.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
  a.size = (static_cast<std::uint64_t>(d.nFileSizeHigh) << 32) | d.nFileSizeLow;
  a.mtime_ns = filetime_to_ns(d.ftLastWriteTime);
}
}  // namespace

struct DirectoryWatchSource::Root {
  std::string path;  // ends without a separator, except a drive root (C:\)
  UniqueHandle dir;
  UniqueHandle event;
  OVERLAPPED ov{};
  alignas(DWORD) unsigned char buf[kBufferBytes];
  std::string pending_old;  // RENAMED_OLD_NAME waiting for its RENAMED_NEW_NAME
};

std::vector<std::string> DirectoryWatchSource::default_roots() {
  std::vector<std::string> roots;
  const DWORD mask = GetLogicalDrives();
  for (int i = 0; i < 26; ++i) {
    if (!(mask & (1u << i))) continue;
    const std::string root = std::string(1, static_cast<char>('A' + i)) + ":\\";
    const UINT t = GetDriveTypeA(root.c_str());
    if (t == DRIVE_FIXED || t == DRIVE_REMOVABLE) roots.push_back(generic(root));
  }
  return roots;
}

DirectoryWatchSource::DirectoryWatchSource() = default;

DirectoryWatchSource::~DirectoryWatchSource() {
  if (stop_.valid()) SetEvent(stop_.get());
  if (worker_.joinable()) worker_.join();
  for (auto& r : roots_)
    if (r->dir.valid()) {
      CancelIoEx(r->dir.get(), &r->ov);
      DWORD n = 0;
      GetOverlappedResult(r->dir.get(), &r->ov, &n, TRUE);  // the buffer must outlive the I/O
    }
}

bool DirectoryWatchSource::arm(Root& r) {
  ResetEvent(r.event.get());
  r.ov = OVERLAPPED{};
  r.ov.hEvent = r.event.get();
  return ReadDirectoryChangesW(r.dir.get(), r.buf, kBufferBytes, TRUE, kFilter, nullptr, &r.ov, nullptr) != 0;
}

Status DirectoryWatchSource::start(const agent::CaptureSpec& spec) {
  if (auto s = queue_.open(); !s) return s;
  for (const auto& e : spec.exclude_paths) exclude_.push_back(lower(generic(e)));
  std::vector<std::string> paths = spec.watch_paths.empty() ? default_roots() : spec.watch_paths;
  if (paths.empty()) return err("file capture: no drive to watch");
  // WaitForMultipleObjects takes at most 64 handles, one of which is the stop event.
  if (paths.size() > MAXIMUM_WAIT_OBJECTS - 1)
    return err("file capture: at most " + std::to_string(MAXIMUM_WAIT_OBJECTS - 1) + " watch paths on Windows");
  for (auto p : paths) {
    p = generic(p);
    if (p.size() > 3 && p.back() == '/') p.pop_back();
    auto r = std::make_unique<Root>();
    r->path = p;
    r->dir.reset(CreateFileW(widen(p).c_str(), FILE_LIST_DIRECTORY,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                             FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED, nullptr));
    if (!r->dir.valid()) return err("file capture: cannot open " + p + ": " + last_error_text());
    r->event.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!r->event.valid()) return err("file capture: CreateEvent: " + last_error_text());
    if (!arm(*r)) return err("file capture: ReadDirectoryChangesW on " + p + ": " + last_error_text());
    roots_.push_back(std::move(r));
  }
  stop_.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!stop_.valid()) return err("file capture: CreateEvent: " + last_error_text());
  worker_ = std::thread([this] { run(); });
  return {};
}

bool DirectoryWatchSource::excluded(const std::string& path) const {
  const std::string l = lower(path);
  for (const auto& e : exclude_)
    if (l.compare(0, e.size(), e) == 0 && (l.size() == e.size() || l[e.size()] == '/' || e.back() == '/')) return true;
  return false;
}

void DirectoryWatchSource::parse(Root& r, DWORD bytes) {
  if (bytes == 0) {
    // The system's buffer overflowed: it dropped changes and says only that it did.
    queue_.count_lost(1);
    return;
  }
  std::size_t off = 0;
  for (;;) {
    const auto* info = reinterpret_cast<const FILE_NOTIFY_INFORMATION*>(r.buf + off);
    const std::string name = generic(narrow(info->FileName, info->FileNameLength / sizeof(wchar_t)));
    const std::string full = r.path + (r.path.back() == '/' ? "" : "/") + name;
    agent::FileActivity a;
    a.time_ns = now_ns();
    a.path = full;
    bool emit = true;
    switch (info->Action) {
      case FILE_ACTION_ADDED: a.action = agent::FileAction::Create; break;
      case FILE_ACTION_REMOVED: a.action = agent::FileAction::Delete; break;
      case FILE_ACTION_MODIFIED: a.action = agent::FileAction::Write; break;
      case FILE_ACTION_RENAMED_OLD_NAME:
        r.pending_old = full;
        emit = false;
        break;
      case FILE_ACTION_RENAMED_NEW_NAME:
        a.action = agent::FileAction::Rename;
        a.old_path = std::move(r.pending_old);
        r.pending_old.clear();
        break;
      default: emit = false;
    }
    if (emit && a.action != agent::FileAction::Delete) stat_into(a);
    // A directory's own "modified" is its listing changing: the child's event says what happened.
    if (emit && a.action == agent::FileAction::Write && a.is_dir) emit = false;
    if (emit && !excluded(a.path)) queue_.push(std::move(a));
    if (info->NextEntryOffset == 0) break;
    off += info->NextEntryOffset;
  }
}

void DirectoryWatchSource::run() {
  std::vector<HANDLE> waits{stop_.get()};
  for (auto& r : roots_) waits.push_back(r->event.get());
  for (;;) {
    const DWORD w = WaitForMultipleObjects(static_cast<DWORD>(waits.size()), waits.data(), FALSE, INFINITE);
    if (w == WAIT_OBJECT_0 || w == WAIT_FAILED) return;
    const std::size_t i = w - WAIT_OBJECT_0 - 1;
    if (i >= roots_.size()) continue;
    Root& r = *roots_[i];
    DWORD bytes = 0;
    if (GetOverlappedResult(r.dir.get(), &r.ov, &bytes, FALSE)) {
      parse(r, bytes);
    } else if (GetLastError() == ERROR_NOTIFY_ENUM_DIR) {
      queue_.count_lost(1);
    }
    if (!arm(r)) {
      // The root went away (a removed stick): nothing more can come from it; stop waiting on it.
      queue_.count_lost(1);
      ResetEvent(r.event.get());
      waits[i + 1] = stop_.get();
    }
  }
}

Result<agent::DrainStats> DirectoryWatchSource::drain(const std::function<void(agent::FileActivity&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<FileActivitySource> make_file_activity_source() { return std::make_unique<win::DirectoryWatchSource>(); }
}  // namespace vigil::agent
