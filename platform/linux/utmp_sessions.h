// Sessions from utmp: the file login(1), sshd and display managers update as sessions start and
// end (USER_PROCESS when one starts, the same slot rewritten as DEAD_PROCESS when it ends).
//
// Promises:
//  - records are read as the fixed-size struct utmp glibc writes; text fields are taken up to
//    their first NUL or their full size (a writer need not terminate them), bytes as they are;
//    a trailing partial record is ignored;
//  - diff_utmp reports a Logon for a USER_PROCESS slot that is new or now holds another session
//    (other pid or start time), and a Logoff for a session whose slot became DEAD_PROCESS, holds
//    another session, or vanished; each with the record's own time (a vanished one: `now_ns`);
//    a Logoff carries the user, host and start of the logon it ends (logout(3) clears them);
//  - utmp_session_kind: "x11" when the line starts with ':', "ssh" when a remote host is set and
//    the session leader is sshd (its comm, via `comm_of`), "other" for any other remote session,
//    else "tty". diff_utmp asks `kind_of` for each session it reports (the source remembers the
//    kind found at logon, as the leader is gone by logoff).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/capture.h"

namespace vigil::platform {

struct UtmpEntry {
  short type = 0;            // USER_PROCESS, DEAD_PROCESS, ...
  std::uint32_t pid = 0;
  std::string line, id, user, host;
  std::int64_t time_ns = 0;
};

std::vector<UtmpEntry> parse_utmp(std::string_view bytes);

// comm_of(pid): the process's comm, "" when it is gone.
std::string utmp_session_kind(const UtmpEntry& e, const std::function<std::string(std::uint32_t)>& comm_of);

// Identifies one session (slot, leader, start), for remembering what was learned at logon.
std::string utmp_session_key(const UtmpEntry& e);

std::vector<agent::SessionActivity> diff_utmp(const std::vector<UtmpEntry>& before,
                                              const std::vector<UtmpEntry>& after, std::int64_t now_ns,
                                              const std::function<std::string(const UtmpEntry&)>& kind_of);

}  // namespace vigil::platform
