// AlertStore: SQLite persistence of the policy engine's alerts, scopes and per-user daily counts
// (tables policy_alerts, policy_scopes, policy_user_days in the collector's database), so a
// restart keeps open alerts open (grouping continues), users in scope, and baselines.
//
// Promises:
// - save() writes one EngineDelta in one transaction (rows are whole values: upserts; an alert's
//   activities are rows of their own, written only when new or replaced), so the engine batches
//   its writes instead of writing per event.
// - load() returns everything saved; activities round-trip with their reasons.
// - Thread-safe (one mutex; the engine calls it from its own thread, the API never does).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collector/policy/model.h"
#include "shared/result.h"

namespace vigil::collector::policy {

struct StoredScope {
  UserInScope scope;
  std::string alert_id;                   // open alert for this scope, "" before the threshold
  std::vector<ScoredActivity> pending;    // scored activities not yet in an alert
};

// indicator: an indicator id, "exfil.bytes" (count = bytes that day) or "hour" (day = hour of
// day 0..23, count = events in that hour).
struct DayCountRow {
  std::string user, indicator;
  std::int32_t day = 0;
  std::uint64_t count = 0;
};

// An alert's row and the activity slots that changed since the last save (all of them when
// the alert is new), so a growing alert costs one row per new activity, not its whole list.
struct AlertDelta {
  Alert alert;  // activities ignored
  std::vector<std::pair<std::uint32_t, ScoredActivity>> slots;
};

struct EngineDelta {
  std::vector<AlertDelta> alerts;
  std::vector<StoredScope> scopes;
  std::vector<DayCountRow> counts;
  bool empty() const { return alerts.empty() && scopes.empty() && counts.empty(); }
};
struct EngineSnapshot {
  std::vector<Alert> alerts;  // with their activities in slot order
  std::vector<StoredScope> scopes;
  std::vector<DayCountRow> counts;
};

class AlertStore {
 public:
  static Result<std::unique_ptr<AlertStore>> open(const std::string& path);
  ~AlertStore();
  Status save(const EngineDelta& delta);
  Result<EngineSnapshot> load();

  struct Impl;

 private:
  explicit AlertStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::collector::policy
