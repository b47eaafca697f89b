// Policy engine routes: alerts (list, one with its explained activities), users in scope, and
// organisation-wide analytics (aggregates only, suppressed below the minimum group size).
// Everything is answered from the engine's memory (no storage job): the engine keeps its state
// in memory and persists it itself.
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/api/api_people.h"  // auth: hide_names_in
#include "collector/cases/case_service.h"
#include "collector/policy/alert_json.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Dispatch now(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad_request(std::string_view message) { return now(error_response(http::status::bad_request, message)); }
Dispatch no_engine() { return now(error_response(http::status::service_unavailable, "this collector runs no policy engine")); }

constexpr std::uint32_t kMaxAnalyticsDays = 3650;

}  // namespace

// Filters: status, severity, policy, user (the name as the caller sees it), since/until (last
// updated), detected_since/detected_until (time detected). Only users in the caller's population
// are listed. With a case service each alert carries its triage and case (a storage job then).
Dispatch ApiHandler::list_alerts(const RouteCall& c) const {
  auto params = checked_query(c.query, {"status", "severity", "policy", "user", "since", "until", "detected_since",
                                        "detected_until"});
  if (!params) return bad_request(params.error());
  if (!engine_) return no_engine();
  policy::AlertFilter f;
  std::optional<std::string> user;
  std::optional<std::int64_t> detected_since, detected_until;
  const std::int64_t now_time = now_ns();
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    if (name == "status") {
      f.status = policy::alert_status_from_string(value);
      if (!f.status) return bad_request("'status' must be needs_review, confirmed, dismissed or resolved; got '" + value + "'");
    } else if (name == "severity") {
      f.severity = policy::severity_from_string(value);
      if (!f.severity) return bad_request("'severity' must be low, medium or high; got '" + value + "'");
    } else if (name == "policy") {
      f.policy_id = value;
    } else if (name == "user") {
      user = value;
    } else {
      auto t = parse_time_param(name, value, now_time);
      if (!t) return bad_request(t.error());
      if (name == "since") f.since_ns = *t;
      else if (name == "until") f.until_ns = *t;
      else (name == "detected_since" ? detected_since : detected_until) = *t;
    }
  }
  Caller caller = c.caller;
  auto answer = [this, f, user, detected_since, detected_until, caller]() {
    std::map<std::string, cases::AlertTriage> triage;
    const bool with_triage = case_service_ != nullptr;
    if (with_triage) {
      auto t = case_service_->triage_view();
      if (!t) return error_response(http::status::internal_server_error, "cases: " + t.error());
      triage = std::move(*t);
    }
    json::array list;
    for (const auto& a : engine_->alerts(f)) {
      if (!caller.may_see_user(a.user)) continue;
      // A pseudonym given by the client matches the name it stands for; a real name matches only
      // when the caller sees real names.
      if (user && !caller.user_filter_matches(a.user, *user)) continue;
      if (detected_since && a.detected_ns < *detected_since) continue;
      if (detected_until && a.detected_ns >= *detected_until) continue;
      list.emplace_back(alert_view(a, false, caller, with_triage ? &triage : nullptr));
    }
    json::object o;
    o["count"] = list.size();
    o["alerts"] = std::move(list);
    return json_response(http::status::ok, o);
  };
  if (!case_service_) return now(answer());
  return Dispatch{std::nullopt, answer};
}

Dispatch ApiHandler::show_alert(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!engine_) return no_engine();
  const std::string id = c.params[0];
  auto a = engine_->alert(id);
  // Outside the caller's population an alert does not exist for them.
  if (!a || !c.caller.may_see_user(a->user)) return now(error_response(http::status::not_found, "no alert '" + id + "'"));
  if (!case_service_) return now(json_response(http::status::ok, alert_view(*a, true, c.caller, nullptr)));
  return Dispatch{std::nullopt, [this, alert = std::move(*a), caller = c.caller]() {
                    auto t = case_service_->triage_view();
                    if (!t) return error_response(http::status::internal_server_error, "cases: " + t.error());
                    return json_response(http::status::ok, alert_view(alert, true, caller, &*t));
                  }};
}

Dispatch ApiHandler::users_in_scope(const HttpRequest&, std::string_view query, const Caller& caller) const {
  auto params = checked_query(query, {"policy", "user"});
  if (!params) return bad_request(params.error());
  if (!engine_) return no_engine();
  std::string policy_id, user;
  for (const auto& [name, value] : *params) (name == "policy" ? policy_id : user) = value;
  const std::int64_t t = now_ns();
  json::array list;
  for (const auto& u : engine_->users_in_scope(t)) {
    if ((!policy_id.empty() && u.policy_id != policy_id) || !caller.may_see_user(u.user) ||
        (!user.empty() && !caller.user_filter_matches(u.user, user)))
      continue;
    auto o = policy::in_scope_to_json(u, t);
    o["user"] = caller.shown_user(u.user);
    hide_names_in(o, caller, {u.user});  // auth: the trigger's detail
    list.emplace_back(std::move(o));
  }
  json::object o;
  o["count"] = list.size();
  o["users"] = std::move(list);
  return now(json_response(http::status::ok, o));
}

Dispatch ApiHandler::analytics(const HttpRequest&, std::string_view query) const {
  auto params = checked_query(query, {"days"});
  if (!params) return bad_request(params.error());
  if (!engine_) return no_engine();
  std::uint32_t days = 30;
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    bool digits = value.size() <= 5 && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    unsigned long n = digits ? std::stoul(value) : 0;
    if (!digits || n < 1 || n > kMaxAnalyticsDays)
      return bad_request("'days' must be an integer from 1 to " + std::to_string(kMaxAnalyticsDays) + "; got '" + value + "'");
    days = static_cast<std::uint32_t>(n);
  }
  auto a = engine_->analytics(days, now_ns());
  json::object o;
  o["days"] = a.days;
  o["min_group_size"] = a.min_group;
  o["suppressed"] = a.suppressed;
  // A count of fewer people than the minimum group size could single someone out: null instead.
  auto share = [&](std::size_t n) -> json::value {
    if (a.suppressed || (n > 0 && n < a.min_group)) return nullptr;
    return a.active_users ? static_cast<double>(n) / static_cast<double>(a.active_users) : 0.0;
  };
  o["active_users"] = a.suppressed ? json::value(nullptr) : json::value(a.active_users);
  o["exfiltration_share"] = share(a.exfil_users);
  o["security_share"] = share(a.security_users);
  json::array top;
  for (const auto& t : a.top_indicators) {
    json::object x;
    x["indicator"] = t.indicator;
    x["users"] = t.users;
    x["events"] = t.events;
    x["share"] = static_cast<double>(t.users) / static_cast<double>(a.active_users);
    top.emplace_back(std::move(x));
  }
  o["top_indicators"] = std::move(top);
  return now(json_response(http::status::ok, o));
}

}  // namespace vigil::collector
