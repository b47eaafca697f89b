#include "platform/linux/utmp_sessions.h"

#include <utmp.h>

#include <cstring>
#include <map>


namespace vigil::platform {

namespace {

template <std::size_t N>
std::string field(const char (&f)[N]) {
  return std::string(f, ::strnlen(f, N));
}

// A slot: the same terminal line and id, as pututline(3) matches them.
std::string slot_key(const UtmpEntry& e) { return e.id + '\0' + e.line; }

agent::SessionActivity activity(agent::SessionAction action, const UtmpEntry& session, std::int64_t time_ns,
                                const std::string& kind) {
  agent::SessionActivity a;
  a.action = action;
  a.time_ns = time_ns;
  a.session_id = session.line.empty() ? session.id : session.line;
  a.user = session.user;
  a.tty = session.line;
  a.remote_host = session.host;
  a.kind = kind;
  a.source = "utmp";
  a.leader_pid = session.pid;
  a.started_ns = session.time_ns;
  return a;
}

}  // namespace

std::string utmp_session_kind(const UtmpEntry& e, const std::function<std::string(std::uint32_t)>& comm_of) {
  if (!e.line.empty() && e.line[0] == ':') return "x11";
  if (!e.host.empty()) return comm_of(e.pid) == "sshd" ? "ssh" : "other";
  return "tty";
}

std::string utmp_session_key(const UtmpEntry& e) {
  return slot_key(e) + '\0' + std::to_string(e.pid) + '\0' + std::to_string(e.time_ns);
}

std::vector<UtmpEntry> parse_utmp(std::string_view bytes) {
  std::vector<UtmpEntry> out;
  for (std::size_t off = 0; off + sizeof(struct utmp) <= bytes.size(); off += sizeof(struct utmp)) {
    struct utmp u;
    std::memcpy(&u, bytes.data() + off, sizeof u);
    UtmpEntry e;
    e.type = u.ut_type;
    e.pid = static_cast<std::uint32_t>(u.ut_pid);
    e.line = field(u.ut_line);
    e.id = field(u.ut_id);
    e.user = field(u.ut_user);
    e.host = field(u.ut_host);
    e.time_ns = static_cast<std::int64_t>(u.ut_tv.tv_sec) * 1'000'000'000LL +
                static_cast<std::int64_t>(u.ut_tv.tv_usec) * 1000LL;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<agent::SessionActivity> diff_utmp(const std::vector<UtmpEntry>& before,
                                              const std::vector<UtmpEntry>& after, std::int64_t now_ns,
                                              const std::function<std::string(const UtmpEntry&)>& kind_of) {
  std::map<std::string, const UtmpEntry*> was, now;
  for (const auto& e : before)
    if (e.type == USER_PROCESS) was[slot_key(e)] = &e;
  for (const auto& e : after) now[slot_key(e)] = &e;  // any type: DEAD_PROCESS ends a session
  auto same_session = [](const UtmpEntry& a, const UtmpEntry& b) {
    return b.type == USER_PROCESS && a.pid == b.pid && a.time_ns == b.time_ns && a.user == b.user;
  };
  std::vector<agent::SessionActivity> out;
  // Ends first, so a slot reused at once reads as logoff then logon.
  for (const auto& [key, old] : was) {
    auto it = now.find(key);
    if (it != now.end() && same_session(*old, *it->second)) continue;
    std::int64_t t = now_ns;
    if (it != now.end() && it->second->time_ns) t = it->second->time_ns;
    out.push_back(activity(agent::SessionAction::Logoff, *old, t, kind_of(*old)));
  }
  for (const auto& e : after) {
    if (e.type != USER_PROCESS) continue;
    auto it = was.find(slot_key(e));
    if (it != was.end() && same_session(*it->second, e)) continue;
    out.push_back(activity(agent::SessionAction::Logon, e, e.time_ns ? e.time_ns : now_ns, kind_of(e)));
  }
  return out;
}

}  // namespace vigil::platform
