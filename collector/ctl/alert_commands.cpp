#include "collector/ctl/alert_commands.h"
#include "collector/ctl/session.h"

#include <iostream>
#include <memory>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"

namespace vigil::ctl {

namespace json = boost::json;

namespace {

struct AlertArgs {
  std::string status, severity, policy, user, since, until, id;
  bool json = false;
  std::uint32_t days = 30;
  bool in_scope = false;
};

const json::array* list_of(const json::object& o, std::string_view key, int& code) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_array()) {
    std::cerr << "vigilctl: unexpected answer: no '" << key << "' list\n";
    code = kFailure;
    return nullptr;
  }
  return &v->as_array();
}

std::string num2(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return field_text(o, key);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v->to_number<double>());
  return buf;
}

std::string pct(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return "suppressed";
  if (!v->is_number()) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v->to_number<double>());
  return buf;
}

int alerts_list(const ApiGet& get, const AlertArgs& a) {
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query += (query.empty() ? "?" : "&") + std::string(name) + "=" + url_encode(value);
  };
  add("status", a.status);
  add("severity", a.severity);
  add("policy", a.policy);
  add("user", a.user);
  add("since", a.since);
  add("until", a.until);
  int code = kOk;
  auto r = get("/api/v1/alerts" + query, code);
  if (!r) return code;
  auto* alerts = list_of(*r, "alerts", code);
  if (!alerts) return code;
  if (a.json) {
    for (const auto& x : *alerts) std::cout << json::serialize(x) << '\n';
    std::cout.flush();
    return kOk;
  }
  if (alerts->empty()) {
    std::cout << "No alerts match.\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : *alerts) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    std::string trigger;
    if (auto* t = o.if_contains("trigger"); t && t->is_object()) trigger = field_text(t->as_object(), "kind");
    rows.push_back({field_text(o, "id"), field_text(o, "severity"), field_text(o, "status"), field_text(o, "policy_id"),
                    field_text(o, "user"), num2(o, "score"), field_text(o, "activity_count"), short_time(field_text(o, "detected")),
                    short_time(field_text(o, "updated")), trigger});
  }
  print_table(std::cout, {"ID", "SEVERITY", "STATUS", "POLICY", "USER", "SCORE", "ACTIVITIES", "DETECTED", "UPDATED", "TRIGGER"}, rows);
  return kOk;
}

int alerts_show(const ApiGet& get, const AlertArgs& a) {
  int code = kOk;
  auto r = get("/api/v1/alerts/" + url_encode(a.id), code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  const auto& o = *r;
  std::cout << "Alert " << field_text(o, "id") << ": " << field_text(o, "severity") << ", " << field_text(o, "status")
            << ", score " << num2(o, "score") << "\n"
            << "  policy:   " << field_text(o, "policy_id") << "\n"
            << "  user:     " << field_text(o, "user") << "\n"
            << "  detected: " << short_time(field_text(o, "detected")) << ", updated " << short_time(field_text(o, "updated")) << "\n";
  if (auto* t = o.if_contains("trigger"); t && t->is_object())
    std::cout << "  trigger:  " << field_text(t->as_object(), "kind") << " " << short_time(field_text(t->as_object(), "time")) << " "
              << field_text(t->as_object(), "detail") << "\n";
  std::cout << "\nActivities (score = sum of the reasons' points):\n";
  if (auto* acts = o.if_contains("activities"); acts && acts->is_array())
    for (const auto& v : acts->as_array()) {
      if (!v.is_object()) continue;
      const auto& x = v.as_object();
      std::cout << "  " << short_time(field_text(x, "time")) << "  " << field_text(x, "indicator") << "  score " << num2(x, "score")
                << "  " << field_text(x, "summary") << "  (" << field_text(x, "device_id") << " #" << field_text(x, "seq") << ")\n";
      if (auto* rs = x.if_contains("reasons"); rs && rs->is_array())
        for (const auto& rv : rs->as_array())
          if (rv.is_object()) std::cout << "      +" << num2(rv.as_object(), "points") << "  " << field_text(rv.as_object(), "reason") << "\n";
    }
  return kOk;
}

int users_in_scope(const ApiGet& get, const AlertArgs& a) {
  std::string query;
  if (!a.policy.empty()) query += "?policy=" + url_encode(a.policy);
  if (!a.user.empty()) query += (query.empty() ? "?" : "&") + std::string("user=") + url_encode(a.user);
  int code = kOk;
  auto r = get("/api/v1/users/in-scope" + query, code);
  if (!r) return code;
  auto* users = list_of(*r, "users", code);
  if (!users) return code;
  if (a.json) {
    for (const auto& x : *users) std::cout << json::serialize(x) << '\n';
    std::cout.flush();
    return kOk;
  }
  if (users->empty()) {
    std::cout << "No users are in scope of a policy.\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : *users) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    std::string kind, detail;
    if (auto* t = o.if_contains("trigger"); t && t->is_object()) {
      kind = field_text(t->as_object(), "kind");
      detail = field_text(t->as_object(), "detail");
    }
    std::string left = field_text(o, "days_left");
    rows.push_back({field_text(o, "user"), field_text(o, "policy_id"), kind, short_time(field_text(o, "since")),
                    left.empty() ? "always" : left, num2(o, "score"), detail});
  }
  print_table(std::cout, {"USER", "POLICY", "TRIGGER", "SINCE", "DAYS LEFT", "SCORE", "DETAIL"}, rows);
  return kOk;
}

int analytics(const ApiGet& get, const AlertArgs& a) {
  int code = kOk;
  auto r = get("/api/v1/analytics?days=" + std::to_string(a.days), code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  const auto& o = *r;
  std::cout << "Analytics over the last " << field_text(o, "days") << " days (aggregates only; groups under "
            << field_text(o, "min_group_size") << " users are suppressed)\n";
  if (field_text(o, "suppressed") == "true") {
    std::cout << "  Too few active users to report anything.\n";
    return kOk;
  }
  std::cout << "  active users:                 " << field_text(o, "active_users") << "\n"
            << "  with exfiltration activity:   " << pct(o, "exfiltration_share") << "\n"
            << "  with security activity:       " << pct(o, "security_share") << "\n\n";
  std::vector<std::vector<std::string>> rows;
  if (auto* top = o.if_contains("top_indicators"); top && top->is_array())
    for (const auto& v : top->as_array())
      if (v.is_object())
        rows.push_back({field_text(v.as_object(), "indicator"), field_text(v.as_object(), "users"), pct(v.as_object(), "share"),
                        field_text(v.as_object(), "events")});
  if (rows.empty()) std::cout << "  No indicator reaches the minimum group size.\n";
  else print_table(std::cout, {"INDICATOR", "USERS", "SHARE", "EVENTS"}, rows);
  return kOk;
}

}  // namespace

void add_alert_commands(CLI::App& app, ApiGet get, int& result) {
  auto args = std::make_shared<AlertArgs>();
  auto g = std::make_shared<ApiGet>(std::move(get));

  auto* alerts = app.add_subcommand("alerts", "alerts raised by insider-risk policies");
  alerts->require_subcommand(1);
  auto* list = alerts->add_subcommand("list", "list alerts, newest first");
  list->add_option("--status", args->status, "needs_review | confirmed | dismissed | resolved");
  list->add_option("--severity", args->severity, "low | medium | high");
  list->add_option("--policy", args->policy, "only this policy id");
  list->add_option("--user", args->user, "only this user");
  list->add_option("--since", args->since, "updated from this time: RFC 3339 or a duration ago (1h, 7d)");
  list->add_option("--until", args->until, "updated before this time");
  list->add_flag("--json", args->json, "one JSON object per line");
  list->callback([args, g, &result] { result = alerts_list(*g, *args); });
  auto* show = alerts->add_subcommand("show", "one alert with its activities and the reasons for their scores");
  show->add_option("id", args->id, "alert id (a-1)")->required();
  show->add_flag("--json", args->json, "print it as one JSON object");
  show->callback([args, g, &result] { result = alerts_show(*g, *args); });

  // `users` also holds the attribute commands (policy_commands.cpp) when they were added first.
  CLI::App* users = nullptr;
  try {
    users = app.get_subcommand("users");
  } catch (const CLI::OptionNotFound&) {
    users = app.add_subcommand("users", "users as the policies see them");
  }
  users->add_flag("--in-scope", args->in_scope, "who is in scope of which policy, why, score, days left");
  users->add_option("--policy", args->policy, "only this policy id");
  users->add_option("--user", args->user, "only this user");
  users->add_flag("--json", args->json, "one JSON object per line");
  auto* in_scope = users->add_subcommand("in-scope", "who is in scope of which policy, why, score, days left");
  in_scope->add_option("--policy", args->policy, "only this policy id");
  in_scope->add_option("--user", args->user, "only this user");
  in_scope->add_flag("--json", args->json, "one JSON object per line");
  in_scope->callback([args, g, &result] { result = users_in_scope(*g, *args); });
  users->callback([args, g, users, &result] {
    if (!users->get_subcommands().empty()) return;  // `users in-scope` ran
    if (!args->in_scope)
      throw CLI::ValidationError("users", "choose: --in-scope, in-scope, import-attributes or attributes (see 'vigilctl users --help')");
    result = users_in_scope(*g, *args);
  });

  auto* an = app.add_subcommand("analytics", "organisation-wide shares of risky activity (no policy needed; aggregates only)");
  an->add_option("--days", args->days, "over the last N days (default 30)")->check(CLI::Range(1, 3650));
  an->add_flag("--json", args->json, "print it as one JSON object");
  an->callback([args, g, &result] { result = analytics(*g, *args); });
}

}  // namespace vigil::ctl
