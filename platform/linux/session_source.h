// SessionSource: agent::SessionActivitySource on Linux.
//  - utmp (spec.utmp_path): inotify on the file and on its directory (the file may be created
//    later, truncated or replaced by rename); on each change the file is read again and diffed
//    with the previous read (platform/linux/utmp_sessions.h): logon and logoff with the record's
//    own time. What is in the file at start() is the baseline.
//  - logind (spec.logind): lock and unlock from LockedHint over D-Bus when logind is on the
//    system bus (platform/linux/logind_watch.h); without it, utmp alone (logged once).
// uid is the passwd entry of the user name (0xffffffff when there is none). One pollable fd (an
// epoll set over the inotify and bus fds).
// Not thread-safe: start() and drain() belong to one loop.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/capture.h"
#include "platform/linux/logind_watch.h"
#include "platform/linux/unique_fd.h"
#include "platform/linux/utmp_sessions.h"

namespace vigil::platform {

class SessionSource : public agent::SessionActivitySource {
 public:
  Status start(const agent::SessionCaptureSpec& spec) override;
  int pollable_fd() const override { return epoll_.get(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::SessionActivity&&)>& sink) override;
  bool logind_watched() const { return logind_ != nullptr; }

 private:
  void watch_file();
  std::vector<UtmpEntry> read_utmp() const;
  std::string kind_of(const UtmpEntry& e);

  std::string path_, dir_, name_;
  UniqueFd epoll_, inotify_;
  int file_wd_ = -1, dir_wd_ = -1;
  std::vector<UtmpEntry> entries_;
  std::map<std::string, std::string> kinds_;  // utmp_session_key -> kind found at logon
  std::unique_ptr<LogindWatch> logind_;
};

}  // namespace vigil::platform
