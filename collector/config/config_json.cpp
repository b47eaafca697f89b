#include "collector/config/config_json.h"

#include <cmath>
#include <limits>
#include <string>

namespace vigil::collector {

namespace json = boost::json;

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s.substr(0, 80)) + "'"; }

Result<std::uint64_t> as_uint(const json::value& v, const std::string& where, std::uint64_t max) {
  std::uint64_t n = 0;
  if (v.is_uint64()) n = v.as_uint64();
  else if (v.is_int64() && v.as_int64() >= 0) n = static_cast<std::uint64_t>(v.as_int64());
  else if (v.is_double() && v.as_double() >= 0 && std::floor(v.as_double()) == v.as_double() &&
           v.as_double() <= static_cast<double>(max))
    n = static_cast<std::uint64_t>(v.as_double());
  else return err(where + " must be a non-negative integer");
  if (n > max) return err(where + " must be at most " + std::to_string(max));
  return n;
}

Result<bool> as_bool(const json::value& v, const std::string& where) {
  if (!v.is_bool()) return err(where + " must be true or false");
  return v.as_bool();
}

Result<std::string> as_string(const json::value& v, const std::string& where) {
  if (!v.is_string()) return err(where + " must be a string");
  return std::string(v.as_string());
}

Status string_list(const json::value& v, const std::string& where, google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!v.is_array()) return err(where + " must be a list of strings");
  const auto& a = v.as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) return err(where + "[" + std::to_string(i) + "] must be a string");
    out->Add(std::string(a[i].as_string()));
  }
  return {};
}

Status rule_from_json(const json::value& v, const std::string& where, v1::ClassifierRuleSpec* r) {
  if (!v.is_object()) return err(where + " must be an object like {\"id\": \"x\", \"kind\": \"keywords\", \"keywords\": [...]}");
  for (const auto& [key, value] : v.as_object()) {
    const std::string field = where + "." + std::string(key);
    if (key == "id") {
      auto s = as_string(value, field);
      if (!s) return err(s.error());
      r->set_id(*s);
    } else if (key == "kind") {
      auto s = as_string(value, field);
      if (!s) return err(s.error());
      r->set_kind(*s);
    } else if (key == "keywords") {
      if (auto st = string_list(value, field, r->mutable_keywords()); !st) return st;
    } else if (key == "regex") {
      auto s = as_string(value, field);
      if (!s) return err(s.error());
      r->set_regex(*s);
    } else if (key == "case_insensitive") {
      auto b = as_bool(value, field);
      if (!b) return err(b.error());
      r->set_case_insensitive(*b);
    } else if (key == "min_count") {
      auto n = as_uint(value, field, std::numeric_limits<std::uint32_t>::max());
      if (!n) return err(n.error());
      r->set_min_count(static_cast<std::uint32_t>(*n));
    } else {
      return err("unknown field " + quoted(key) + " in " + where +
                 " (accepted: id, kind, keywords, regex, case_insensitive, min_count)");
    }
  }
  if (r->id().empty()) return err(where + ".id is required");
  if (r->kind().empty()) return err(where + " (id " + quoted(r->id()) + "): kind is required (keywords, regex or builtin)");
  return {};
}

}  // namespace

Result<ParsedCollectionConfig> collection_config_from_json(const json::value& body) {
  if (!body.is_object()) return err("the collection config must be a JSON object");
  ParsedCollectionConfig out;
  auto& c = out.config;
  c.set_classification_enabled(true);
  for (const auto& [key, value] : body.as_object()) {
    const std::string field = "'" + std::string(key) + "'";
    if (key == "watch_paths") {
      if (auto st = string_list(value, field, c.mutable_watch_paths()); !st) return err(st.error());
    } else if (key == "exclude_paths") {
      if (auto st = string_list(value, field, c.mutable_exclude_paths()); !st) return err(st.error());
    } else if (key == "priority_paths") {
      if (auto st = string_list(value, field, c.mutable_priority_paths()); !st) return err(st.error());
    } else if (key == "rules") {
      if (!value.is_array()) return err("'rules' must be a list of rule objects");
      const auto& a = value.as_array();
      for (std::size_t i = 0; i < a.size(); ++i)
        if (auto st = rule_from_json(a[i], "rules[" + std::to_string(i) + "]", c.add_rules()); !st) return err(st.error());
    } else if (key == "classify_max_bytes") {
      auto n = as_uint(value, field, std::numeric_limits<std::uint64_t>::max());
      if (!n) return err(n.error());
      c.set_classify_max_bytes(*n);
    } else if (key == "classify_max_ms") {
      auto n = as_uint(value, field, std::numeric_limits<std::uint32_t>::max());
      if (!n) return err(n.error());
      c.set_classify_max_ms(static_cast<std::uint32_t>(*n));
    } else if (key == "classification_enabled") {
      auto b = as_bool(value, field);
      if (!b) return err(b.error());
      c.set_classification_enabled(*b);
    } else if (key == "cpu_limit_percent") {
      if (!value.is_number()) return err(field + " must be a number");
      c.set_cpu_limit_percent(value.to_number<double>());
    } else if (key == "rss_limit_bytes") {
      auto n = as_uint(value, field, std::numeric_limits<std::uint64_t>::max());
      if (!n) return err(n.error());
      c.set_rss_limit_bytes(*n);
    } else if (key == "version") {
      auto n = as_uint(value, field, std::numeric_limits<std::int64_t>::max());
      if (!n) return err(n.error());
      out.expected_version = *n;
    } else if (key == "updated" || key == "source") {
      // Read-only fields GET adds; ignored so `config show --json` output can be set again.
    } else {
      return err("unknown field " + quoted(key) +
                 " (accepted: watch_paths, exclude_paths, priority_paths, rules, classify_max_bytes, classify_max_ms, "
                 "classification_enabled, cpu_limit_percent, rss_limit_bytes, version)");
    }
  }
  return out;
}

json::object collection_config_to_json(const v1::CollectionConfig& c) {
  auto list = [](const google::protobuf::RepeatedPtrField<std::string>& l) {
    json::array a;
    for (const auto& s : l) a.emplace_back(s);
    return a;
  };
  json::object o;
  o["version"] = c.version();
  o["watch_paths"] = list(c.watch_paths());
  o["exclude_paths"] = list(c.exclude_paths());
  o["priority_paths"] = list(c.priority_paths());
  json::array rules;
  for (const auto& r : c.rules()) {
    json::object j;
    j["id"] = r.id();
    j["kind"] = r.kind();
    if (r.kind() == "keywords" || r.keywords_size() > 0) j["keywords"] = list(r.keywords());
    if (r.kind() == "regex" || !r.regex().empty()) {
      j["regex"] = r.regex();
      j["case_insensitive"] = r.case_insensitive();
    }
    j["min_count"] = r.min_count() == 0 ? 1u : r.min_count();
    rules.emplace_back(std::move(j));
  }
  o["rules"] = std::move(rules);
  o["classify_max_bytes"] = c.classify_max_bytes();
  o["classify_max_ms"] = c.classify_max_ms();
  o["classification_enabled"] = c.classification_enabled();
  o["cpu_limit_percent"] = c.cpu_limit_percent();
  o["rss_limit_bytes"] = c.rss_limit_bytes();
  return o;
}

}  // namespace vigil::collector
