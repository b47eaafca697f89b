// PolicyEngine: turns committed activity into scored, explained alerts (issue 4; docs/SCORING.md).
//
// Promises:
// - on_events() is thread-safe and cheap: per event a few array and hash-map updates; scoring
//   only for users in scope of a policy; no SQL per event (state reaches the AlertStore, when
//   there is one, in one transaction per save).
// - Policies, HR records, attributes and DLP rules are read from the PolicyDirectory as a snapshot
//   that is reloaded whenever its generation() changes.
// - Every ScoredActivity lists each factor and the points it added; the alert's score is the sum
//   of its activities' scores since the user came into scope.
// - With a store, changed state is saved at most every save_interval_ns while busy, on flush()
//   (EngineFeed calls it whenever its queue runs empty; it returns once saved) and on destruction;
//   the writing happens on the saver's thread (DeltaSaver), so scoring goes on while SQLite
//   commits. Alerts exist in memory (and in the API) as soon as the batch is evaluated.
// - One open alert per (policy, user): later activity updates it (score, severity, activities,
//   updated time) instead of raising another.
// - prime_history() only counts (baselines, usual hours, peers); it never scores or alerts, so
//   history loaded from the store gives context to a policy created today.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/policy/directory.h"
#include "collector/policy/model.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::collector::policy {

class AlertStore;
class DeltaSaver;

struct EngineSettings {
  // Working hours used until a user has enough history of their own (local = UTC + offset).
  int work_start_hour = 8, work_end_hour = 18, utc_offset_minutes = 0;
  std::uint32_t usual_hours_min_events = 50;  // history before the user's own hours are used
  double usual_hours_min_share = 0.02;        // an hour with less of the user's activity is unusual
  double baseline_factor = 2.0;               // today's count above factor x mean (and mean + 1)
  std::int64_t sequence_window_ns = 24LL * 3600 * 1'000'000'000;
  std::uint32_t peer_window_days = 30;
  double peer_factor = 5.0;                   // cumulative bytes above factor x peer median
  std::uint64_t peer_min_bytes = 10ULL << 20;
  std::size_t peer_min_users = 3;             // other users with exfiltration needed to compare
  std::int64_t peer_refresh_ns = 1'000'000'000;  // wall time between peer median recomputations
  // Multipliers.
  double boost_baseline = 1.5, boost_priority_content = 2.0, boost_priority_user = 1.5,
         boost_after_hours = 1.5, boost_sequence = 2.0, boost_peers = 1.5;
  // Severity: Medium from medium_at x threshold, High from high_at x threshold.
  double medium_at = 2.0, high_at = 4.0;
  std::size_t max_activities_per_alert = 200;
  std::uint32_t keep_days = 400;              // per-user daily counts older than this are dropped
  std::size_t analytics_min_group = 5;        // aggregates over fewer users are suppressed
  std::int64_t save_interval_ns = 500'000'000; // while busy: at most this long between saves
};

struct AlertFilter {
  std::optional<AlertStatus> status;
  std::optional<Severity> severity;
  std::optional<std::string> policy_id, user;
  std::optional<std::int64_t> since_ns, until_ns;  // on updated_ns
};

struct Analytics {
  std::uint32_t days = 0;
  bool suppressed = false;            // fewer active users than the minimum group size
  std::size_t active_users = 0, exfil_users = 0, security_users = 0;
  struct Top {
    std::string indicator;
    std::size_t users = 0;
    std::uint64_t events = 0;
  };
  std::vector<Top> top_indicators;    // by users, each with at least the minimum group size
  std::size_t min_group = 0;
};

class PolicyEngine {
 public:
  // store: null keeps everything in memory (tests, benchmark).
  PolicyEngine(std::shared_ptr<const PolicyDirectory> directory, EngineSettings settings = {},
               AlertStore* store = nullptr);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  // Restores alerts, scopes and counters from the store (no-op without one).
  Status load();
  void prime_history(const std::vector<v1::Event>& events);
  void on_events(const std::string& device_id, const std::vector<v1::Event>& events);
  void on_batch(const std::string& device_id, const v1::EventBatch& batch);
  // Saves what changed since the last save now (no-op without a store).
  void flush();

  std::vector<Alert> alerts(const AlertFilter& filter = {}) const;
  std::optional<Alert> alert(const std::string& id) const;
  // Scopes whose window includes now_ns.
  std::vector<UserInScope> users_in_scope(std::int64_t now_ns) const;
  Analytics analytics(std::uint32_t days, std::int64_t now_ns) const;
  const EngineSettings& settings() const { return settings_; }
  // Whether the engine has counted anyone's activity yet (loaded or primed).
  bool has_history() const;
  // siem: called with every alert a batch raised or updated (a copy, after the engine's lock is
  // released, on the thread that fed the batch). Set before the engine is fed; not thread-safe.
  void set_alert_listener(std::function<void(const Alert&)> listener);

  // Triage (collector/cases, docs/CASES.md): sets an alert's status and saves it at once (with a
  // store). A triaged alert (anything but NeedsReview) is frozen: later activity of the same
  // (policy, user) starts a new alert instead of growing one a reviewer has already judged.
  // Error when there is no such alert.
  Status set_alert_status(const std::string& id, AlertStatus status);

  struct State;

 private:
  template <typename Range>
  void process(const std::string& device_id, const Range& events, bool score);
  void save_dirty();  // caller holds mu_

  std::shared_ptr<const PolicyDirectory> directory_;
  EngineSettings settings_;
  AlertStore* store_;
  mutable std::mutex mu_;
  std::unique_ptr<State> st_;
  std::unique_ptr<DeltaSaver> saver_;  // with a store: saves off the scoring thread
  std::function<void(const Alert&)> alert_listener_;  // siem
};

// Severity for a score against a policy threshold (SCORING.md "Severity").
Severity severity_for(double score, double threshold, const EngineSettings& s);

}  // namespace vigil::collector::policy
