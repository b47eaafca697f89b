#include "collector/policy/policy_json.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "collector/policy/templates.h"
#include "shared/time_util.h"

namespace vigil::collector::policy {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxListItems = 10000;
constexpr std::size_t kMaxItemBytes = 1024;
constexpr std::size_t kMaxDescriptionBytes = 4096;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string kind_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "something else";
}

Result<std::string> get_string(const json::value& v, const std::string& field, std::size_t max_bytes, bool allow_empty) {
  if (!v.is_string()) return err("'" + field + "' must be a string, not " + kind_of(v));
  std::string s(v.as_string());
  if (!allow_empty && s.empty()) return err("'" + field + "' must not be empty");
  if (s.size() > max_bytes) return err("'" + field + "' is longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

Result<bool> get_bool(const json::value& v, const std::string& field) {
  if (!v.is_bool()) return err("'" + field + "' must be true or false, not " + kind_of(v));
  return v.as_bool();
}

Result<double> get_number(const json::value& v, const std::string& field, double lo, double hi) {
  double d = 0;
  if (v.is_int64()) d = static_cast<double>(v.as_int64());
  else if (v.is_uint64()) d = static_cast<double>(v.as_uint64());
  else if (v.is_double()) d = v.as_double();
  else return err("'" + field + "' must be a number, not " + kind_of(v));
  if (!std::isfinite(d) || d < lo || d > hi)
    return err("'" + field + "' must be a number from " + json::serialize(json::value(lo)) + " to " +
               json::serialize(json::value(hi)));
  return d;
}

Result<std::uint32_t> get_uint(const json::value& v, const std::string& field, std::uint32_t lo, std::uint32_t hi) {
  std::int64_t n = 0;
  if (v.is_int64()) n = v.as_int64();
  else if (v.is_uint64()) n = static_cast<std::int64_t>(std::min<std::uint64_t>(v.as_uint64(), 1ull << 40));
  else if (v.is_double() && v.as_double() == std::floor(v.as_double()) && std::fabs(v.as_double()) < 1e12)
    n = static_cast<std::int64_t>(v.as_double());
  else return err("'" + field + "' must be an integer, not " + kind_of(v));
  if (n < lo || n > hi)
    return err("'" + field + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<std::uint32_t>(n);
}

Result<std::vector<std::string>> get_list(const json::value& v, const std::string& field) {
  if (!v.is_array()) return err("'" + field + "' must be an array of strings, not " + kind_of(v));
  const auto& a = v.as_array();
  if (a.size() > kMaxListItems) return err("'" + field + "' has more than " + std::to_string(kMaxListItems) + " items");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    auto s = get_string(a[i], at, kMaxItemBytes, false);
    if (!s) return err(s.error());
    if (has_control(*s)) return err("'" + at + "' contains control characters");
    if (std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(std::move(*s));
  }
  return out;
}

Result<std::string> get_name(const json::value& v, const std::string& field) {
  auto s = get_string(v, field, kMaxNameBytes, false);
  if (!s) return err(s.error());
  if (has_control(*s)) return err("'" + field + "' contains control characters");
  if (s->find_first_not_of(" \t") == std::string::npos) return err("'" + field + "' must not be blank");
  return s;
}

std::string accepted(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string time_or_empty(std::int64_t ns) { return ns ? format_rfc3339(ns, 3) : std::string(); }

// Whole numbers print as integers (10, not 1E1) so people and diffs read them easily.
json::value num(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return json::value(static_cast<std::int64_t>(d));
  return json::value(d);
}

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

}  // namespace

std::string format_date(std::int64_t ns) {
  constexpr std::int64_t kDay = 86400LL * 1000000000LL;
  std::int64_t days = ns / kDay - (ns % kDay < 0 ? 1 : 0);
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

Result<Policy> policy_from_json(const json::value& body) {
  if (!body.is_object()) return err("the policy must be a JSON object, not " + kind_of(body));
  const auto& o = body.as_object();
  static const std::initializer_list<std::string_view> kFields{
      "name", "description", "template", "all_users", "users", "groups", "priority_paths", "priority_info_types",
      "priority_labels", "indicators", "in_scope_days", "historic_days", "min_risk_threshold", "enabled",
      "id", "version", "created", "updated", "health"};
  for (const auto& [k, v] : o)
    if (std::find(kFields.begin(), kFields.end(), std::string_view(k)) == kFields.end())
      return err("unknown field '" + std::string(k) + "' (accepted: " + accepted(kFields) + ")");

  auto* t = o.if_contains("template");
  if (!t) return err("'template' is required (one of: " + [] {
                       std::string s;
                       for (const auto& i : all_templates()) s += (s.empty() ? "" : ", ") + std::string(to_string(i.tmpl));
                       return s;
                     }() + ")");
  if (!t->is_string()) return err("'template' must be a string, not " + kind_of(*t));
  auto tmpl = template_from_string(std::string(t->as_string()));
  if (!tmpl) {
    std::string s;
    for (const auto& i : all_templates()) s += (s.empty() ? "" : ", ") + std::string(to_string(i.tmpl));
    return err("'template' '" + std::string(t->as_string()) + "' is not a template (one of: " + s + ")");
  }
  Policy p = default_policy(*tmpl);

  auto* n = o.if_contains("name");
  if (!n) return err("'name' is required");
  auto name = get_name(*n, "name");
  if (!name) return err(name.error());
  p.name = std::move(*name);

  if (auto* v = o.if_contains("description")) {
    auto s = get_string(*v, "description", kMaxDescriptionBytes, true);
    if (!s) return err(s.error());
    p.description = std::move(*s);
  }
  struct ListField {
    const char* name;
    std::vector<std::string>* out;
  };
  for (const auto& lf : {ListField{"users", &p.users}, ListField{"groups", &p.groups},
                         ListField{"priority_paths", &p.priority_paths},
                         ListField{"priority_info_types", &p.priority_info_types},
                         ListField{"priority_labels", &p.priority_labels}}) {
    if (auto* v = o.if_contains(lf.name)) {
      auto l = get_list(*v, lf.name);
      if (!l) return err(l.error());
      *lf.out = std::move(*l);
    }
  }
  const bool names_people = !p.users.empty() || !p.groups.empty();
  if (auto* v = o.if_contains("all_users")) {
    auto b = get_bool(*v, "all_users");
    if (!b) return err(b.error());
    if (*b && names_people)
      return err("'all_users' is true but 'users' or 'groups' are given: choose all users or a list");
    p.all_users = *b;
  } else {
    p.all_users = !names_people;
  }
  if (auto* v = o.if_contains("indicators")) {
    if (!v->is_object()) return err("'indicators' must be an object {id: {weight, threshold, enabled}}, not " + kind_of(*v));
    for (const auto& [key, setting] : v->as_object()) {
      const std::string id(key);
      const std::string at = "indicators." + id;
      auto it = std::find_if(p.indicators.begin(), p.indicators.end(), [&](const IndicatorSetting& s) { return s.id == id; });
      if (it == p.indicators.end()) {
        std::string list;
        for (const auto& s : p.indicators) list += (list.empty() ? "" : ", ") + s.id;
        return err("'" + at + "': template " + std::string(to_string(p.tmpl)) + " has no indicator '" + id +
                   "' (its indicators: " + list + ")");
      }
      if (!setting.is_object()) return err("'" + at + "' must be an object {weight, threshold, enabled}, not " + kind_of(setting));
      for (const auto& [sk, sv] : setting.as_object()) {
        const std::string f = at + "." + std::string(sk);
        if (sk == "weight") {
          auto w = get_number(sv, f, 0, 1000);
          if (!w) return err(w.error());
          it->weight = *w;
        } else if (sk == "threshold") {
          auto th = get_uint(sv, f, 1, 100000);
          if (!th) return err(th.error());
          it->threshold = *th;
        } else if (sk == "enabled") {
          auto b = get_bool(sv, f);
          if (!b) return err(b.error());
          it->enabled = *b;
        } else {
          return err("unknown field '" + f + "' (accepted: weight, threshold, enabled)");
        }
      }
    }
  }
  if (auto* v = o.if_contains("in_scope_days")) {
    auto d = get_uint(*v, "in_scope_days", 1, 365);
    if (!d) return err(d.error());
    p.in_scope_days = *d;
  }
  if (auto* v = o.if_contains("historic_days")) {
    auto d = get_uint(*v, "historic_days", 0, 3650);
    if (!d) return err(d.error());
    p.historic_days = *d;
  }
  if (auto* v = o.if_contains("min_risk_threshold")) {
    auto d = get_number(*v, "min_risk_threshold", 0, 1000000);
    if (!d) return err(d.error());
    p.min_risk_threshold = *d;
  }
  if (auto* v = o.if_contains("enabled")) {
    auto b = get_bool(*v, "enabled");
    if (!b) return err(b.error());
    p.enabled = *b;
  }
  return p;
}

json::object policy_to_json(const Policy& p) {
  json::object o;
  o["id"] = p.id;
  o["name"] = p.name;
  o["description"] = p.description;
  o["template"] = to_string(p.tmpl);
  o["all_users"] = p.all_users;
  o["users"] = to_array(p.users);
  o["groups"] = to_array(p.groups);
  o["priority_paths"] = to_array(p.priority_paths);
  o["priority_info_types"] = to_array(p.priority_info_types);
  o["priority_labels"] = to_array(p.priority_labels);
  json::object ind;
  for (const auto& i : p.indicators)
    ind[i.id] = json::object{{"weight", num(i.weight)}, {"threshold", i.threshold}, {"enabled", i.enabled}};
  o["indicators"] = std::move(ind);
  o["in_scope_days"] = p.in_scope_days;
  o["historic_days"] = p.historic_days;
  o["min_risk_threshold"] = num(p.min_risk_threshold);
  o["enabled"] = p.enabled;
  o["version"] = p.version;
  o["created"] = time_or_empty(p.created_ns);
  o["updated"] = time_or_empty(p.updated_ns);
  return o;
}

json::object policy_to_json(const Policy& p, const PolicyHealth& h) {
  auto o = policy_to_json(p);
  o["health"] = json::object{{"warnings", to_array(h.warnings)}};
  return o;
}

Result<DlpRule> dlp_rule_from_json(const json::value& body) {
  if (!body.is_object()) return err("the DLP rule must be a JSON object, not " + kind_of(body));
  const auto& o = body.as_object();
  static const std::initializer_list<std::string_view> kFields{"name", "info_types", "channels", "severity", "enabled", "id"};
  for (const auto& [k, v] : o)
    if (std::find(kFields.begin(), kFields.end(), std::string_view(k)) == kFields.end())
      return err("unknown field '" + std::string(k) + "' (accepted: " + accepted(kFields) + ")");
  DlpRule r;
  auto* n = o.if_contains("name");
  if (!n) return err("'name' is required");
  auto name = get_name(*n, "name");
  if (!name) return err(name.error());
  r.name = std::move(*name);
  auto* types = o.if_contains("info_types");
  if (!types) return err("'info_types' is required: {\"credit_card\": 5, ...} (sensitive info type -> minimum count)");
  if (!types->is_object() || types->as_object().empty())
    return err("'info_types' must be a non-empty object {type: minimum count}");
  for (const auto& [k, v] : types->as_object()) {
    const std::string id(k), at = "info_types." + id;
    if (id.empty() || id.size() > kMaxItemBytes || has_control(id)) return err("'" + at + "': bad info type name");
    auto c = get_uint(v, at, 1, 1000000);
    if (!c) return err(c.error());
    r.info_types[id] = *c;
  }
  if (auto* v = o.if_contains("channels")) {
    auto l = get_list(*v, "channels");
    if (!l) return err(l.error());
    static const std::set<std::string> kChannels{"removable", "network_share", "print", "archive", "any"};
    for (std::size_t i = 0; i < l->size(); ++i)
      if (!kChannels.count((*l)[i]))
        return err("'channels[" + std::to_string(i) + "]' '" + (*l)[i] +
                   "' is not a channel (removable, network_share, print, archive, any)");
    r.channels = std::move(*l);
  }
  if (r.channels.empty()) r.channels = {"any"};
  if (auto* v = o.if_contains("severity")) {
    if (!v->is_string()) return err("'severity' must be a string (low, medium, high), not " + kind_of(*v));
    auto s = severity_from_string(std::string(v->as_string()));
    if (!s) return err("'severity' '" + std::string(v->as_string()) + "' is not one of low, medium, high");
    r.severity = *s;
  }
  if (auto* v = o.if_contains("enabled")) {
    auto b = get_bool(*v, "enabled");
    if (!b) return err(b.error());
    r.enabled = *b;
  }
  return r;
}

json::object dlp_rule_to_json(const DlpRule& r) {
  json::object o;
  o["id"] = r.id;
  o["name"] = r.name;
  json::object types;
  for (const auto& [k, v] : r.info_types) types[k] = v;
  o["info_types"] = std::move(types);
  o["channels"] = to_array(r.channels);
  o["severity"] = to_string(r.severity);
  o["enabled"] = r.enabled;
  return o;
}

json::object hr_record_to_json(const HrRecord& r) {
  return json::object{{"user", r.user}, {"event", to_string(r.kind)}, {"date", format_date(r.effective_ns)},
                      {"detail", r.detail}, {"source", r.source}};
}

json::object attributes_to_json(const UserAttributes& a) {
  return json::object{{"user", a.user},         {"department", a.department}, {"region", a.region},
                      {"manager", a.manager},   {"priority_groups", to_array(a.priority_groups)},
                      {"email", a.email}};
}

json::object template_to_json(Template t) {
  const auto& i = template_info(t);
  json::object o;
  o["id"] = to_string(t);
  o["name"] = i.display_name;
  o["description"] = i.description;
  o["trigger"] = i.trigger;
  json::object ind;
  for (const auto& s : i.indicators)
    ind[s.id] = json::object{{"weight", num(s.weight)}, {"threshold", s.threshold}, {"enabled", s.enabled}};
  o["indicators"] = std::move(ind);
  o["in_scope_days"] = i.in_scope_days;
  o["historic_days"] = i.historic_days;
  o["min_risk_threshold"] = num(i.min_risk_threshold);
  json::array needs;
  if (i.needs.hr_resignation) needs.emplace_back("hr_resignation");
  if (i.needs.hr_performance) needs.emplace_back("hr_performance");
  if (i.needs.dlp_rule) needs.emplace_back("dlp_rule");
  if (i.needs.priority_groups) needs.emplace_back("priority_groups");
  o["prerequisites"] = std::move(needs);
  return o;
}

}  // namespace vigil::collector::policy
