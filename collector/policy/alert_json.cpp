#include "collector/policy/alert_json.h"

#include <cmath>

#include "shared/time_util.h"

namespace vigil::collector::policy {

namespace json = boost::json;

namespace {

std::string str(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
double num(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return 0;
}
std::int64_t i64(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}
// Scores are shown to people: two decimals are enough and keep JSON stable.
double round2(double x) { return std::round(x * 100) / 100; }

}  // namespace

json::object activity_to_json(const ScoredActivity& a) {
  json::object o;
  o["device_id"] = a.device_id;
  o["seq"] = a.seq;
  o["type"] = a.type;
  o["indicator"] = a.indicator;
  o["time"] = format_rfc3339(a.time_ns, 3);
  o["time_ns"] = a.time_ns;
  o["summary"] = a.summary;
  o["score"] = round2(a.score);
  json::array reasons;
  for (const auto& [why, points] : a.reasons) {
    json::object r;
    r["reason"] = why;
    r["points"] = round2(points);
    reasons.emplace_back(std::move(r));
  }
  o["reasons"] = std::move(reasons);
  return o;
}

ScoredActivity activity_from_json(const json::object& o) {
  ScoredActivity a;
  a.device_id = str(o, "device_id");
  a.seq = static_cast<std::uint64_t>(i64(o, "seq"));
  a.type = str(o, "type");
  a.indicator = str(o, "indicator");
  a.time_ns = i64(o, "time_ns");
  a.summary = str(o, "summary");
  a.score = num(o, "score");
  if (auto* r = o.if_contains("reasons"); r && r->is_array())
    for (const auto& x : r->as_array())
      if (x.is_object()) a.reasons.emplace_back(str(x.as_object(), "reason"), num(x.as_object(), "points"));
  return a;
}

json::array activities_to_json(const std::vector<ScoredActivity>& list) {
  json::array out;
  out.reserve(list.size());
  for (const auto& a : list) out.emplace_back(activity_to_json(a));
  return out;
}

std::vector<ScoredActivity> activities_from_json(const json::value& v) {
  std::vector<ScoredActivity> out;
  if (!v.is_array()) return out;
  for (const auto& x : v.as_array())
    if (x.is_object()) out.push_back(activity_from_json(x.as_object()));
  return out;
}

json::object trigger_to_json(const Trigger& t) {
  json::object o;
  o["kind"] = t.kind;
  o["time"] = t.time_ns ? json::value(format_rfc3339(t.time_ns, 3)) : json::value(nullptr);
  o["detail"] = t.detail;
  return o;
}

json::object alert_to_json(const Alert& a, bool with_activities) {
  json::object o;
  o["id"] = a.id;
  o["policy_id"] = a.policy_id;
  o["user"] = a.user;
  o["severity"] = to_string(a.severity);
  o["status"] = to_string(a.status);
  o["detected"] = format_rfc3339(a.detected_ns, 3);
  o["updated"] = format_rfc3339(a.updated_ns, 3);
  o["score"] = round2(a.score);
  o["trigger"] = trigger_to_json(a.trigger);
  o["activity_count"] = a.activities.size();
  if (with_activities) o["activities"] = activities_to_json(a.activities);
  return o;
}

json::object in_scope_to_json(const UserInScope& u, std::int64_t now_ns) {
  constexpr std::int64_t kDay = 86400LL * 1'000'000'000;
  json::object o;
  o["user"] = u.user;
  o["policy_id"] = u.policy_id;
  o["trigger"] = trigger_to_json(u.trigger);
  o["since"] = format_rfc3339(u.since_ns, 0);
  const bool forever = u.until_ns == INT64_MAX;
  o["until"] = forever ? json::value(nullptr) : json::value(format_rfc3339(u.until_ns, 0));
  o["days_left"] = forever ? json::value(nullptr) : json::value((u.until_ns - now_ns + kDay - 1) / kDay);
  o["score"] = round2(u.score);
  return o;
}

}  // namespace vigil::collector::policy
