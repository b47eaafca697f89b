// Investigator queries over all stored activity: the filter, the keyset position pages continue
// from, and the page that comes back. EventStore::query_activity() answers them.
//
// Promises:
// - Order is newest first by (time, device, seq), a total order: paging with `after` never shows
//   an event twice nor skips one, whatever ingest commits between pages (a late batch whose
//   events sort before the position simply appears on later pages; one after it never does).
// - user_allowed (population scope) is applied to every event and to every index row the total
//   is counted from, so neither the page nor the count tells anything about other users.
// - Channel and "sensitive" are derived from an event by activity_channel() / has_finding(), the
//   same functions ingest indexes with, so an index answer and a decoded answer agree.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil.pb.h"

namespace vigil::collector {

// Where a page ended: the last event returned. The next page holds the events strictly older.
struct ActivityPosition {
  std::int64_t time_ns = 0;
  std::string device_id;
  std::uint64_t seq = 0;
};

struct ActivityQuery {
  std::optional<std::string> device_id;
  std::vector<std::string> users;          // real names; empty: every user (within user_allowed)
  bool users_given = false;                // a user filter was given (it may have resolved to none)
  std::optional<std::string> type;         // exact, or a prefix ending in '.' ("file.")
  std::optional<std::string> channel;      // removable | network_share | print | file | ...
  std::optional<std::string> path_glob;    // fnmatch(3) on the file path (and old path, sample paths)
  std::optional<std::string> classification;  // a sensitive info type found, or "any"
  std::optional<std::int64_t> since_ns;    // inclusive
  std::optional<std::int64_t> until_ns;    // exclusive
  std::optional<ActivityPosition> after;   // continue after this event
  std::size_t limit = 100;
  bool count_total = false;                // also count every match (ignoring `after`)
  std::function<bool(const std::string& user)> user_allowed;  // null: everyone
};

// The channels an event can leave (or act) through; what `channel=` accepts.
inline constexpr std::string_view kActivityChannels[] = {"removable", "network_share", "print", "file",
                                                         "device", "security", "session", "agent", "other"};

// The channel of one event: exfil.removable → removable, exfil.network_share → network_share,
// print.* → print, file.bulk → its summarised operation's channel, other file.* → file,
// device.*/volume.* → device, security.*, session.*, agent.* → their own; anything else → other.
std::string_view activity_channel(const v1::Event& e);

// Whether the event's content classification found `info_type` ("any": any type at all).
bool has_finding(const v1::Event& e, std::string_view info_type);

}  // namespace vigil::collector
