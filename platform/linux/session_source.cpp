#include "platform/linux/session_source.h"

#include <pwd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <utmp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "platform/linux/proc_info.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::platform {

namespace {

constexpr std::size_t kMaxUtmpBytes = 16u << 20;  // 43,000 records: far past any real utmp

std::uint32_t uid_of_name(const std::string& name) {
  if (name.empty() || name.find('\0') != std::string::npos) return 0xffffffffu;
  passwd pw{}, *res = nullptr;
  char buf[4096];
  if (::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) return 0xffffffffu;
  return pw.pw_uid;
}

std::string comm_of(std::uint32_t pid) {
  if (!pid) return "";
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string c;
  std::getline(in, c);
  return c;
}

}  // namespace

Status SessionSource::start(const agent::SessionCaptureSpec& spec) {
  path_ = spec.utmp_path.empty() ? "/var/run/utmp" : spec.utmp_path;
  auto slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  name_ = path_.substr(slash == std::string::npos ? 0 : slash + 1);
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!epoll_ || !inotify_) return err(std::string("epoll/inotify: ") + std::strerror(errno));
  dir_wd_ = ::inotify_add_watch(inotify_.get(), dir_.c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
  if (dir_wd_ < 0) return err("watch " + dir_ + ": " + std::strerror(errno));
  watch_file();
  entries_ = read_utmp();
  for (const auto& e : entries_)
    if (e.type == USER_PROCESS) kinds_[utmp_session_key(e)] = utmp_session_kind(e, comm_of);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = inotify_.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, inotify_.get(), &ev) != 0) return err(std::string("epoll_ctl: ") + std::strerror(errno));
  if (spec.logind) {
    auto l = std::make_unique<LogindWatch>();
    if (auto s = l->start(); !s) {
      log::info("sessions", "no logind: lock and unlock are not captured", {{"reason", s.error()}});
    } else {
      epoll_event bev{};
      bev.events = EPOLLIN;
      bev.data.fd = l->fd();
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, l->fd(), &bev) == 0) logind_ = std::move(l);
    }
  }
  return {};
}

void SessionSource::watch_file() {
  // The watch follows the inode: when the file is replaced, the new one needs a new watch.
  int wd = ::inotify_add_watch(inotify_.get(), path_.c_str(), IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF);
  if (wd >= 0) file_wd_ = wd;
}

std::vector<UtmpEntry> SessionSource::read_utmp() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return {};
  // Read in chunks up to the cap: a real utmp is a few KB, so no big buffer up front.
  std::string bytes;
  char chunk[1 << 14];
  while (bytes.size() < kMaxUtmpBytes && in.read(chunk, sizeof chunk).gcount() > 0)
    bytes.append(chunk, static_cast<std::size_t>(in.gcount()));
  if (bytes.size() > kMaxUtmpBytes) bytes.resize(kMaxUtmpBytes);
  return parse_utmp(bytes);
}

std::string SessionSource::kind_of(const UtmpEntry& e) {
  auto key = utmp_session_key(e);
  auto it = kinds_.find(key);
  if (it != kinds_.end()) return it->second;
  std::string k = utmp_session_kind(e, comm_of);
  // Bounded by the sessions utmp holds; forgotten entries are pruned in drain().
  kinds_[key] = k;
  return k;
}

Result<agent::DrainStats> SessionSource::drain(const std::function<void(agent::SessionActivity&&)>& sink) {
  agent::DrainStats stats;
  bool reread = false;
  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return err(std::string("inotify read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        ++stats.overflows;
        reread = true;
      } else if (ev->wd == dir_wd_) {
        if (ev->len && name_ == ev->name) reread = true;
      } else if (ev->wd == file_wd_) {
        reread = true;
      }
    }
  }
  std::vector<agent::SessionActivity> out;
  if (reread) {
    watch_file();
    auto now = read_utmp();
    out = diff_utmp(entries_, now, now_ns(), [this](const UtmpEntry& e) { return kind_of(e); });
    entries_ = std::move(now);
    std::map<std::string, std::string> keep;
    for (const auto& e : entries_)
      if (auto it = kinds_.find(utmp_session_key(e)); it != kinds_.end()) keep.insert(*it);
    kinds_.swap(keep);
  }
  if (logind_) {
    if (auto s = logind_->drain(out); !s) return err(s.error());
  }
  for (auto& a : out) {
    if (a.uid == 0xffffffffu) a.uid = uid_of_name(a.user);
    ++stats.activities;
    sink(std::move(a));
  }
  return stats;
}

}  // namespace vigil::platform

namespace vigil::agent {
std::unique_ptr<SessionActivitySource> make_session_activity_source() {
  return std::make_unique<platform::SessionSource>();
}
}  // namespace vigil::agent
