// Opaque paging cursors for activity queries: the position a page ended at, bound to the filters
// (and the caller) it was made for, signed with HMAC-SHA256 under a key only the collector holds.
//
// Promises:
// - verify() accepts exactly what sign() produced with the same key and the same binding; a
//   cursor edited by hand, made for other filters or another caller, or signed under another key
//   is refused with a reason (the API turns it into 400), never half-trusted.
// - The key lives in a 0600 file in the data dir, so cursors survive a restart of the collector.
#pragma once
#include <string>
#include <string_view>

#include "collector/store/activity_query.h"
#include "shared/result.h"

namespace vigil::collector {

class ActivityCursors {
 public:
  explicit ActivityCursors(std::string key) : key_(std::move(key)) {}
  // Reads the key from `path`, creating it (32 random bytes, mode 0600) when missing.
  static Result<ActivityCursors> open(const std::string& path);

  // binding: what the cursor is valid for (a digest of the caller and the filters).
  std::string sign(const ActivityPosition& position, std::string_view binding) const;
  Result<ActivityPosition> verify(std::string_view cursor, std::string_view binding) const;

 private:
  std::string mac(std::string_view data) const;
  std::string key_;
};

}  // namespace vigil::collector
