#include "collector/policy/alert_store.h"

#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "collector/policy/alert_json.h"
#include "collector/store/sqlite_util.h"

namespace vigil::collector::policy {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS policy_alerts(
  id TEXT PRIMARY KEY,
  policy_id TEXT NOT NULL,
  user TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  detected_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL,
  score REAL NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_ns INTEGER NOT NULL,
  trigger_detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_alert_activities(
  alert_id TEXT NOT NULL,
  slot INTEGER NOT NULL,              -- position in the alert's list (a replaced one keeps its slot)
  body TEXT NOT NULL,                 -- JSON of one explained activity (alert_json.h)
  PRIMARY KEY(alert_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_scopes(
  policy_id TEXT NOT NULL,
  user TEXT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_ns INTEGER NOT NULL,
  trigger_detail TEXT NOT NULL,
  since_ns INTEGER NOT NULL,
  until_ns INTEGER NOT NULL,
  score REAL NOT NULL,
  alert_id TEXT NOT NULL,
  pending TEXT NOT NULL,              -- JSON array: scored activities not yet in an alert
  PRIMARY KEY(policy_id, user)
);
CREATE TABLE IF NOT EXISTS policy_user_days(
  user TEXT NOT NULL,
  indicator TEXT NOT NULL,            -- indicator id, 'exfil.bytes', or 'hour' (day = hour of day)
  day INTEGER NOT NULL,               -- days since the epoch (UTC)
  count INTEGER NOT NULL,
  PRIMARY KEY(user, indicator, day)
) WITHOUT ROWID;
)sql";

}  // namespace

struct AlertStore::Impl {
  std::mutex mu;
  Db db;
  Stmt put_alert, put_activity, put_scope, put_count, all_alerts, all_activities, all_scopes, all_counts;
};

AlertStore::AlertStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AlertStore::~AlertStore() = default;

Result<std::unique_ptr<AlertStore>> AlertStore::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  auto db = sqlite::open_wal(path, sqlite::kBusyTimeoutMs);
  if (!db) return err(db.error());
  impl->db = std::move(*db);
  if (auto st = sqlite::exec_in_txn(impl->db, kSchema, "create policy engine tables"); !st) return err(st.error());
  auto st = sqlite::prepare_all(
      impl->db,
      {
          {&impl->put_alert, "INSERT OR REPLACE INTO policy_alerts VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
           "save alert"},
          {&impl->put_activity, "INSERT OR REPLACE INTO policy_alert_activities VALUES(?1, ?2, ?3)", "save alert activity"},
          {&impl->all_activities, "SELECT alert_id, slot, body FROM policy_alert_activities ORDER BY alert_id, slot",
           "load alert activities"},
          {&impl->put_scope, "INSERT OR REPLACE INTO policy_scopes VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
           "save scope"},
          {&impl->put_count, "INSERT OR REPLACE INTO policy_user_days VALUES(?1, ?2, ?3, ?4)", "save daily count"},
          {&impl->all_alerts, "SELECT * FROM policy_alerts", "load alerts"},
          {&impl->all_scopes, "SELECT * FROM policy_scopes", "load scopes"},
          {&impl->all_counts, "SELECT user, indicator, day, count FROM policy_user_days ORDER BY day", "load daily counts"},
      });
  if (!st) return err(st.error());
  return std::unique_ptr<AlertStore>(new AlertStore(std::move(impl)));
}

Status AlertStore::save(const EngineDelta& d) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  // Use has no double binder: scores are bound with sqlite3_bind_double on the same statement.
  for (const auto& ad : d.alerts) {
    const Alert& a = ad.alert;
    for (const auto& [slot, act] : ad.slots) {
      const std::string body = boost::json::serialize(activity_to_json(act));
      Use u(impl_->put_activity);
      u.bind(1, std::string_view(a.id)).bind(2, std::int64_t{slot}).bind(3, std::string_view(body));
      if (auto s = u.run(); !s) return err(s.error());
    }
    Use u(impl_->put_alert);
    u.bind(1, std::string_view(a.id)).bind(2, std::string_view(a.policy_id)).bind(3, std::string_view(a.user));
    u.bind(4, std::string_view(to_string(a.severity))).bind(5, std::string_view(to_string(a.status)));
    u.bind(6, a.detected_ns).bind(7, a.updated_ns);
    sqlite3_bind_double(impl_->put_alert.get(), 8, a.score);
    u.bind(9, std::string_view(a.trigger.kind)).bind(10, a.trigger.time_ns).bind(11, std::string_view(a.trigger.detail));
    if (auto s = u.run(); !s) return err(s.error());
  }
  for (const auto& s : d.scopes) {
    const std::string pend = boost::json::serialize(activities_to_json(s.pending));
    Use u(impl_->put_scope);
    u.bind(1, std::string_view(s.scope.policy_id)).bind(2, std::string_view(s.scope.user));
    u.bind(3, std::string_view(s.scope.trigger.kind)).bind(4, s.scope.trigger.time_ns).bind(5, std::string_view(s.scope.trigger.detail));
    u.bind(6, s.scope.since_ns).bind(7, s.scope.until_ns);
    sqlite3_bind_double(impl_->put_scope.get(), 8, s.scope.score);
    u.bind(9, std::string_view(s.alert_id)).bind(10, std::string_view(pend));
    if (auto st = u.run(); !st) return err(st.error());
  }
  for (const auto& c : d.counts) {
    Use u(impl_->put_count);
    u.bind(1, std::string_view(c.user)).bind(2, std::string_view(c.indicator)).bind(3, std::int64_t{c.day}).bind(4, c.count);
    if (auto st = u.run(); !st) return err(st.error());
  }
  return txn->commit();
}

Result<EngineSnapshot> AlertStore::load() {
  std::lock_guard lock(impl_->mu);
  EngineSnapshot out;
  auto parse = [](std::string_view text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    return ec ? std::vector<ScoredActivity>{} : activities_from_json(v);
  };
  {
    Use u(impl_->all_alerts);
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      Alert a;
      a.id = std::string(u.text(0));
      a.policy_id = std::string(u.text(1));
      a.user = std::string(u.text(2));
      a.severity = severity_from_string(std::string(u.text(3))).value_or(Severity::Low);
      a.status = alert_status_from_string(std::string(u.text(4))).value_or(AlertStatus::NeedsReview);
      a.detected_ns = u.int64(5);
      a.updated_ns = u.int64(6);
      a.score = sqlite3_column_double(impl_->all_alerts.get(), 7);
      a.trigger = Trigger{std::string(u.text(8)), u.int64(9), std::string(u.text(10))};
      out.alerts.push_back(std::move(a));
    });
    if (!rows) return err(rows.error());
  }
  {
    std::map<std::string, Alert*> by_id;
    for (auto& a : out.alerts) by_id[a.id] = &a;
    Use u(impl_->all_activities);
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      auto it = by_id.find(std::string(u.text(0)));
      if (it == by_id.end()) return;
      boost::system::error_code ec;
      auto v = boost::json::parse(u.text(2), ec);
      if (!ec && v.is_object()) it->second->activities.push_back(activity_from_json(v.as_object()));
    });
    if (!rows) return err(rows.error());
  }
  {
    Use u(impl_->all_scopes);
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      StoredScope s;
      s.scope.policy_id = std::string(u.text(0));
      s.scope.user = std::string(u.text(1));
      s.scope.trigger = Trigger{std::string(u.text(2)), u.int64(3), std::string(u.text(4))};
      s.scope.since_ns = u.int64(5);
      s.scope.until_ns = u.int64(6);
      s.scope.score = sqlite3_column_double(impl_->all_scopes.get(), 7);
      s.alert_id = std::string(u.text(8));
      s.pending = parse(u.text(9));
      out.scopes.push_back(std::move(s));
    });
    if (!rows) return err(rows.error());
  }
  {
    Use u(impl_->all_counts);
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      out.counts.push_back({std::string(u.text(0)), std::string(u.text(1)), static_cast<std::int32_t>(u.int64(2)), u.uint64(3)});
    });
    if (!rows) return err(rows.error());
  }
  return out;
}

}  // namespace vigil::collector::policy
