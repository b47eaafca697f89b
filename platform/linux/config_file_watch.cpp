#include "platform/linux/config_file_watch.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "platform/linux/line_diff.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::platform {

namespace {

constexpr std::uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                                   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

std::string dirname_of(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}
std::string basename_of(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}
std::string join(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}
std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// A regular file with one link just created was opened to be written: the writer's close
// (IN_CLOSE_WRITE) reports it complete. Links (hard or symbolic) are complete at creation.
bool created_for_writing(const std::string& dir, std::string_view name) {
  struct stat st {};
  if (::lstat(join(dir, name).c_str(), &st) != 0) return false;
  return S_ISREG(st.st_mode) && st.st_nlink == 1;
}

}  // namespace

bool mentions_screen_lock(std::string_view text) {
  std::string t = lower(text);
  return t.find("lock") != std::string::npos || t.find("idle-delay") != std::string::npos ||
         t.find("screensaver") != std::string::npos;
}

void ConfigFileWatch::build_rules() {
  rules_.clear();
  const std::string etc = root_ + "/etc";
  auto any = [](std::string_view) { return true; };
  auto named = [](std::initializer_list<const char*> names) {
    std::vector<std::string> v(names.begin(), names.end());
    return [v](std::string_view n) { return std::find(v.begin(), v.end(), n) != v.end(); };
  };
  rules_.push_back({etc, "sudoers", named({"sudoers"}), false});
  rules_.push_back({etc + "/sudoers.d", "sudoers", any, false});
  rules_.push_back({etc + "/pam.d", "pam", any, false});
  rules_.push_back({etc + "/security", "pam", [](std::string_view n) { return ends_with(n, ".conf"); }, false});
  rules_.push_back({etc + "/ssh", "sshd", named({"sshd_config"}), false});
  rules_.push_back({etc + "/ssh/sshd_config.d", "sshd", any, false});
  rules_.push_back({etc + "/audit", "audit", named({"auditd.conf", "audit.rules"}), false});
  rules_.push_back({etc + "/audit/rules.d", "audit", any, false});
  rules_.push_back({etc + "/xdg/autostart", "screen_lock", [](std::string_view n) {
                      std::string l = lower(n);
                      return l.find("screensaver") != std::string::npos || l.find("locker") != std::string::npos ||
                             l.find("xss-lock") != std::string::npos;
                    }, false});
  rules_.push_back({etc + "/X11/app-defaults", "screen_lock", named({"XScreenSaver"}), false});
  // dconf system databases: every NAME.d keyfile directory and its locks/.
  const std::string db = etc + "/dconf/db";
  for (const auto& n : list_dir(db)) {
    if (!ends_with(n, ".d") || !is_dir(db + "/" + n)) continue;
    rules_.push_back({db + "/" + n, "screen_lock", any, true});
    rules_.push_back({db + "/" + n + "/locks", "screen_lock", any, false});
  }
  for (const auto& p : agent_paths_) {
    std::string base = basename_of(p);
    rules_.push_back({dirname_of(p), "agent", [base](std::string_view n) { return n == base; }, false});
  }
}

Status ConfigFileWatch::start(const std::string& config_root, const std::vector<std::string>& agent_paths) {
  root_ = config_root;
  while (!root_.empty() && root_.back() == '/') root_.pop_back();  // "/" -> "" + "/etc"
  agent_paths_ = agent_paths;
  inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) return err(std::string("inotify_init1: ") + std::strerror(errno));
  build_rules();
  ensure_watches();
  full_rescan(nullptr);  // baseline
  return {};
}

std::vector<std::string> ConfigFileWatch::ensure_watches() {
  std::vector<std::string> added;
  std::set<std::string> dirs;
  for (const auto& r : rules_) dirs.insert(r.dir);
  // Parents of the rule directories, so a directory created later is noticed (IN_ISDIR) at once.
  dirs.insert(root_ + "/etc/dconf");
  dirs.insert(root_ + "/etc/dconf/db");
  for (const auto& d : dirs) {
    int wd = ::inotify_add_watch(inotify_.get(), d.c_str(), kDirMask);
    if (wd < 0) continue;  // missing for now; its parent or the next recheck brings it
    auto it = wd_of_dir_.find(d);
    if (it != wd_of_dir_.end() && it->second == wd) continue;
    if (it != wd_of_dir_.end()) dir_of_wd_[it->second].erase(d);
    wd_of_dir_[d] = wd;
    dir_of_wd_[wd].insert(d);
    added.push_back(d);
  }
  return added;
}

void ConfigFileWatch::full_rescan(const Sink* sink) {
  std::set<std::string> dirs;
  for (const auto& r : rules_) dirs.insert(r.dir);
  for (const auto& [path, k] : known_) dirs.insert(dirname_of(path));
  for (const auto& d : dirs) scan_dir(d, sink);
}

void ConfigFileWatch::scan_dir(const std::string& dir, const Sink* sink) {
  std::set<std::string> seen;
  for (const auto& r : rules_) {
    if (r.dir != dir) continue;
    for (const auto& name : list_dir(dir)) {
      if (!r.match(name)) continue;
      std::string path = join(dir, name);
      auto stamp = stamp_of(path);
      if (!stamp) continue;  // directories, sockets, dangling links: not configuration
      seen.insert(path);
      auto it = known_.find(path);
      if (it != known_.end() && it->second.snap.stamp == *stamp) continue;
      auto snap = snapshot_file(path, r.category == "agent" ? 0 : kKeepContentBytes);
      if (!snap) {
        seen.erase(path);
        continue;
      }
      Known now{r.category, r.lock_text_only, std::move(*snap)};
      if (it == known_.end()) {
        if (sink) report(path, nullptr, &now, *sink);
        known_.emplace(path, std::move(now));
      } else {
        if (sink && it->second.snap.digest != now.snap.digest) report(path, &it->second, &now, *sink);
        it->second = std::move(now);
      }
    }
  }
  for (auto it = known_.begin(); it != known_.end();) {
    if (dirname_of(it->first) == dir && !seen.count(it->first)) {
      if (sink) report(it->first, &it->second, nullptr, *sink);
      it = known_.erase(it);
    } else {
      ++it;
    }
  }
}

void ConfigFileWatch::report(const std::string& path, const Known* before, const Known* after, const Sink& sink) {
  const Known& any = after ? *after : *before;
  std::string change = !before ? "created" : !after ? "deleted" : "modified";
  std::string old_digest = before ? before->snap.digest : "", new_digest = after ? after->snap.digest : "";
  if (any.category == "agent") {
    agent::TamperActivity t;
    t.time_ns = now_ns();
    bool elf = (before && before->snap.elf) || (after && after->snap.elf);
    std::string base = basename_of(path);
    t.what = elf ? "binary_modified"
             : (ends_with(base, ".toml") || ends_with(base, ".conf")) ? "config_modified"
                                                                      : "data_modified";
    t.item = path;
    t.old_digest = old_digest;
    t.new_digest = new_digest;
    t.detail = change;
    sink(agent::SecurityRecord(std::move(t)));
    return;
  }
  const std::string empty;
  bool texts = (!before || before->snap.has_content) && (!after || after->snap.has_content);
  const std::string& old_text = before ? before->snap.content : empty;
  const std::string& new_text = after ? after->snap.content : empty;
  if (any.lock_text_only && !(texts && (mentions_screen_lock(old_text) || mentions_screen_lock(new_text)))) return;
  agent::SecurityChange c;
  c.time_ns = now_ns();
  c.category = any.category;
  c.item = path;
  c.change = change;
  c.old_digest = old_digest;
  c.new_digest = new_digest;
  if (texts) {
    auto d = line_diff(old_text, new_text);
    c.diff = std::move(d.text);
    c.lines_added = d.lines_added;
    c.lines_removed = d.lines_removed;
  } else {
    c.diff = "(larger than 256 KiB: digests only)";
  }
  sink(agent::SecurityRecord(std::move(c)));
}

Status ConfigFileWatch::drain(const Sink& sink, std::uint64_t& overflows) {
  std::set<std::string> dirty;
  bool full = false;
  alignas(inotify_event) char buf[16384];
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
        ++overflows;
        full = true;
        continue;
      }
      auto it = dir_of_wd_.find(ev->wd);
      if (it == dir_of_wd_.end()) continue;
      if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        // The directory went away (or moved): its files are gone from where they count.
        if (!(ev->mask & IN_IGNORED)) ::inotify_rm_watch(inotify_.get(), ev->wd);
        for (const auto& d : it->second) wd_of_dir_.erase(d);
        dir_of_wd_.erase(it);
        full = true;
        continue;
      }
      if (ev->mask & IN_ISDIR) {
        full = true;  // a directory came or went: rules may change
        continue;
      }
      // /etc sees many writes that are none of ours: rescan only for a name a rule wants.
      std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      // A file being written: IN_CLOSE_WRITE follows with its content (one "created", not an
      // empty one and then a "modified").
      if ((ev->mask & IN_CREATE) && !name.empty() && created_for_writing(*it->second.begin(), name)) continue;
      for (const auto& d : it->second)
        for (const auto& r : rules_)
          if (r.dir == d && (name.empty() || r.match(name))) {
            dirty.insert(d);
            break;
          }
    }
  }
  if (full) {
    build_rules();
    ensure_watches();
    full_rescan(&sink);
  } else {
    for (const auto& d : dirty) scan_dir(d, &sink);
  }
  return {};
}

void ConfigFileWatch::recheck(const Sink& sink) {
  build_rules();
  auto added = ensure_watches();
  for (const auto& d : added) scan_dir(d, &sink);
}

}  // namespace vigil::platform
