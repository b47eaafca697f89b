// ConfigFileWatch: security-relevant configuration files and the agent's own files, watched with
// inotify on their directories and compared with what was remembered.
//
// Watched under config_root (see docs/SECURITY_SETTINGS.md for the reasons):
//   sudoers      etc/sudoers, etc/sudoers.d/*
//   pam          etc/pam.d/*, etc/security/*.conf
//   sshd         etc/ssh/sshd_config, etc/ssh/sshd_config.d/*
//   audit        etc/audit/auditd.conf, etc/audit/audit.rules, etc/audit/rules.d/*
//   screen_lock  etc/dconf/db/*.d/* and *.d/locks/* (only files whose old or new text mentions
//                lock, idle-delay or screensaver), etc/xdg/autostart/* named like a screen
//                saver or locker, etc/X11/app-defaults/XScreenSaver
//   agent        each of agent_paths (its binary, agent.toml, certificates)
// Promises:
//  - directories are watched, not files, so files created, deleted or replaced by rename (what
//    editors and package managers do) are seen; a directory that appears later is picked up when
//    its parent reports it or at the next recheck();
//  - the scan at start() is the baseline and reports nothing;
//  - a new file opened for writing is reported when its writer closes it (IN_CLOSE_WRITE), so a
//    half-written file is never what is remembered;
//  - each change is created | modified | deleted with sha256 of the old and new content and, for
//    files up to kKeepContentBytes, a bounded line diff; identical content is no change;
//  - agent files give TamperActivity: binary_modified (the file was or is an ELF executable),
//    config_modified (*.toml, *.conf), data_modified (anything else);
//  - inotify cannot name the process, so changed_by is ""; an inotify queue overflow is counted
//    and followed by a full rescan.
// Not thread-safe: one loop owns it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/capture.h"
#include "platform/linux/file_digest.h"
#include "platform/linux/unique_fd.h"
#include "shared/result.h"

namespace vigil::platform {

inline constexpr std::size_t kKeepContentBytes = 256 * 1024;

class ConfigFileWatch {
 public:
  using Sink = std::function<void(agent::SecurityRecord&&)>;

  Status start(const std::string& config_root, const std::vector<std::string>& agent_paths);
  int fd() const { return inotify_.get(); }
  // Reads pending inotify events and reports what changed.
  Status drain(const Sink& sink, std::uint64_t& overflows);
  // Adds watches for directories that appeared without their parent telling (scans them).
  void recheck(const Sink& sink);

 private:
  struct Rule {
    std::string dir;
    std::string category;  // "agent": tamper
    std::function<bool(std::string_view)> match;
    bool lock_text_only = false;
  };
  struct Known {
    std::string category;
    bool lock_text_only = false;
    FileSnapshot snap;
  };

  void build_rules();
  // Adds missing watches; returns the directories newly watched.
  std::vector<std::string> ensure_watches();
  void scan_dir(const std::string& dir, const Sink* sink);
  void full_rescan(const Sink* sink);
  void report(const std::string& path, const Known* before, const Known* after, const Sink& sink);

  std::string root_;
  std::vector<std::string> agent_paths_;
  std::vector<Rule> rules_;
  UniqueFd inotify_;
  // One inode can be reached by several watched paths (a symlinked directory): one wd, many dirs.
  std::map<int, std::set<std::string>> dir_of_wd_;
  std::map<std::string, int> wd_of_dir_;
  std::map<std::string, Known> known_;  // path -> last content seen
};

// Whether dconf keyfile text is about screen locking (lock, idle-delay, screensaver; any case).
bool mentions_screen_lock(std::string_view text);

}  // namespace vigil::platform
