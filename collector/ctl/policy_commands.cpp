#include "collector/ctl/policy_commands.h"

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"

namespace json = boost::json;

namespace vigil::ctl {

namespace {

std::optional<std::string> read_json_file(const std::string& file, int& code) {
  auto text = read_input(file, code);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  (void)json::parse(*text, ec);
  if (ec) {
    complain(file + " is not valid JSON: " + ec.message());
    code = kUsage;
    return std::nullopt;
  }
  return text;
}

std::string enc(const std::string& id) { return url_encode(id); }

void print_lines(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_array())
    for (const auto& e : v->as_array()) std::cout << json::serialize(e) << '\n';
  std::cout.flush();
}

std::string list_text(const json::object& o, std::string_view key) {
  std::string out;
  if (auto* v = o.if_contains(key); v && v->is_array())
    for (const auto& e : v->as_array()) out += (out.empty() ? "" : ", ") + (e.is_string() ? std::string(e.as_string()) : json::serialize(e));
  return out.empty() ? "(none)" : out;
}

const json::array* warnings_of(const json::object& p) {
  auto* h = p.if_contains("health");
  if (!h || !h->is_object()) return nullptr;
  auto* w = h->as_object().if_contains("warnings");
  return w && w->is_array() ? &w->as_array() : nullptr;
}

void print_policy(const json::object& p) {
  auto line = [](const char* k, const std::string& v) { std::cout << k << v << '\n'; };
  line("id:                  ", field_text(p, "id") + " (version " + field_text(p, "version") + ")");
  line("name:                ", field_text(p, "name"));
  if (!field_text(p, "description").empty()) line("description:         ", field_text(p, "description"));
  line("template:            ", field_text(p, "template"));
  line("enabled:             ", field_text(p, "enabled"));
  line("users:               ", field_text(p, "all_users") == "true" ? "all users" : list_text(p, "users"));
  line("groups:              ", list_text(p, "groups"));
  line("priority_paths:      ", list_text(p, "priority_paths"));
  line("priority_info_types: ", list_text(p, "priority_info_types"));
  line("priority_labels:     ", list_text(p, "priority_labels"));
  line("in_scope_days:       ", field_text(p, "in_scope_days"));
  line("historic_days:       ", field_text(p, "historic_days"));
  line("min_risk_threshold:  ", field_text(p, "min_risk_threshold"));
  line("created / updated:   ", field_text(p, "created") + " / " + field_text(p, "updated"));
  std::vector<std::vector<std::string>> rows;
  if (auto* ind = p.if_contains("indicators"); ind && ind->is_object())
    for (const auto& [k, v] : ind->as_object())
      if (v.is_object())
        rows.push_back({"  " + std::string(k), field_text(v.as_object(), "weight"), field_text(v.as_object(), "threshold"),
                        field_text(v.as_object(), "enabled")});
  std::cout << "indicators:\n";
  print_table(std::cout, {"  ID", "WEIGHT", "THRESHOLD/DAY", "ENABLED"}, rows);
  auto* w = warnings_of(p);
  if (!w || w->empty()) {
    std::cout << "health:              ok\n";
  } else {
    std::cout << "health warnings:\n";
    for (const auto& s : *w) std::cout << "  - " << (s.is_string() ? std::string(s.as_string()) : json::serialize(s)) << '\n';
  }
}

// ---------------------------------------------------------------- policies

int policies_list(const CtlFlags& f, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/policies", "", code);
  if (!r) return code;
  if (as_json) {
    print_lines(r->body, "policies");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* v = r->body.if_contains("policies"); v && v->is_array())
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      const auto& p = e.as_object();
      auto* w = warnings_of(p);
      rows.push_back({field_text(p, "id"), field_text(p, "name"), field_text(p, "template"),
                      field_text(p, "enabled") == "true" ? "yes" : "no", field_text(p, "version"),
                      w && !w->empty() ? std::to_string(w->size()) + ": " + std::string(w->at(0).is_string() ? w->at(0).as_string() : "") : "ok"});
    }
  if (rows.empty()) {
    std::cout << "No policies. Create one with 'vigilctl policies create FILE.json' (see 'vigilctl templates list').\n";
    return kOk;
  }
  print_table(std::cout, {"ID", "NAME", "TEMPLATE", "ENABLED", "VERSION", "HEALTH"}, rows);
  return kOk;
}

int policies_show(const CtlFlags& f, const std::string& id, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/policies/" + enc(id), "", code);
  if (!r) return code;
  if (as_json) std::cout << json::serialize(r->body) << std::endl;
  else print_policy(r->body);
  return kOk;
}

int policies_write(const CtlFlags& f, const std::string& id, const std::string& file, bool as_json) {
  int code = kOk;
  auto body = read_json_file(file, code);
  if (!body) return code;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = id.empty() ? call(*s, "POST", "/api/v1/policies", *body, code)
                      : call(*s, "PUT", "/api/v1/policies/" + enc(id), *body, code);
  if (!r) return code;
  if (as_json) {
    std::cout << json::serialize(r->body) << std::endl;
    return kOk;
  }
  std::cout << "Policy " << field_text(r->body, "id") << " (" << field_text(r->body, "name") << ") "
            << (id.empty() ? "created" : "updated to version " + field_text(r->body, "version")) << ".\n";
  if (auto* w = warnings_of(r->body); w && !w->empty()) {
    std::cout << "Health warnings (the policy is stored and active anyway):\n";
    for (const auto& x : *w) std::cout << "  - " << (x.is_string() ? std::string(x.as_string()) : "") << '\n';
  }
  return kOk;
}

int policies_validate(const CtlFlags& f, const std::string& file, bool as_json) {
  int code = kOk;
  auto body = read_input(file, code);
  if (!body) return code;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "POST", "/api/v1/policies/validate", *body, code);
  if (!r) return code;
  const bool valid = field_text(r->body, "valid") == "true";
  auto* errors = r->body.if_contains("errors");
  const bool clean = valid && (!errors || !errors->is_array() || errors->as_array().empty());
  if (as_json) {
    std::cout << json::serialize(r->body) << std::endl;
  } else {
    if (errors && errors->is_array())
      for (const auto& e : errors->as_array()) std::cout << "error: " << (e.is_string() ? std::string(e.as_string()) : "") << '\n';
    if (auto* h = r->body.if_contains("health"); h && h->is_object())
      if (auto* w = h->as_object().if_contains("warnings"); w && w->is_array())
        for (const auto& x : w->as_array()) std::cout << "warning: " << (x.is_string() ? std::string(x.as_string()) : "") << '\n';
    std::cout << (clean ? "valid" : "not valid") << '\n';
  }
  return clean ? kOk : kUsage;
}

int delete_thing(const CtlFlags& f, const std::string& what, const std::string& target, const std::string& id, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "DELETE", target + enc(id), "", code);
  if (!r) return code;
  if (as_json) std::cout << json::serialize(r->body) << std::endl;
  else std::cout << what << " " << id << " deleted.\n";
  return kOk;
}

// ---------------------------------------------------------------- templates, DLP rules

int templates_list(const CtlFlags& f, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/templates", "", code);
  if (!r) return code;
  if (as_json) {
    print_lines(r->body, "templates");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* v = r->body.if_contains("templates"); v && v->is_array())
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      const auto& t = e.as_object();
      rows.push_back({field_text(t, "id"), field_text(t, "name"), list_text(t, "prerequisites"),
                      field_text(t, "min_risk_threshold")});
    }
  print_table(std::cout, {"TEMPLATE", "NAME", "NEEDS", "THRESHOLD"}, rows);
  return kOk;
}

std::string info_types_text(const json::object& r) {
  std::string out;
  if (auto* v = r.if_contains("info_types"); v && v->is_object())
    for (const auto& [k, n] : v->as_object()) out += (out.empty() ? "" : ", ") + std::string(k) + ">=" + json::serialize(n);
  return out;
}

int dlp_list(const CtlFlags& f, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/dlp-rules", "", code);
  if (!r) return code;
  if (as_json) {
    print_lines(r->body, "dlp_rules");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* v = r->body.if_contains("dlp_rules"); v && v->is_array())
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      const auto& d = e.as_object();
      rows.push_back({field_text(d, "id"), field_text(d, "name"), field_text(d, "severity"),
                      field_text(d, "enabled") == "true" ? "yes" : "no", list_text(d, "channels"), info_types_text(d)});
    }
  if (rows.empty()) {
    std::cout << "No DLP rules. Create one with 'vigilctl dlp-rules create FILE.json'.\n";
    return kOk;
  }
  print_table(std::cout, {"ID", "NAME", "SEVERITY", "ENABLED", "CHANNELS", "INFO TYPES"}, rows);
  return kOk;
}

int dlp_write(const CtlFlags& f, const std::string& id, const std::string& file, bool as_json) {
  int code = kOk;
  auto body = read_json_file(file, code);
  if (!body) return code;
  auto s = open_session(f, code);
  if (!s) return code;
  auto r = id.empty() ? call(*s, "POST", "/api/v1/dlp-rules", *body, code)
                      : call(*s, "PUT", "/api/v1/dlp-rules/" + enc(id), *body, code);
  if (!r) return code;
  if (as_json) std::cout << json::serialize(r->body) << std::endl;
  else std::cout << "DLP rule " << field_text(r->body, "id") << " (" << field_text(r->body, "name") << ") "
                 << (id.empty() ? "created" : "updated") << ".\n";
  return kOk;
}

// ---------------------------------------------------------------- HR and attributes

int import_csv(const CtlFlags& f, const std::string& target, const std::string& file, bool replace, bool as_json) {
  int code = kOk;
  auto body = read_input(file, code);
  if (!body) return code;
  auto s = open_session(f, code);
  if (!s) return code;
  std::string query = replace ? "?replace=true" : "";
  if (target == "/api/v1/hr/import" && file != "-") {
    std::string base = file.substr(file.find_last_of('/') + 1);
    query += std::string(query.empty() ? "?" : "&") + "source=" + url_encode(base);
  }
  auto r = call(*s, "POST", target + query, *body, code, "text/csv", {400});
  if (!r) return code;
  if (r->status == 400 && !r->body.if_contains("rejected")) {
    complain("server rejected " + file + ": " + field_text(r->body, "error"));
    return kUsage;
  }
  const std::string rejected = field_text(r->body, "rejected");
  if (as_json) {
    std::cout << json::serialize(r->body) << std::endl;
  } else {
    if (auto* e = r->body.if_contains("errors"); e && e->is_array())
      for (const auto& x : e->as_array())
        if (x.is_object())
          std::cerr << file << ":" << field_text(x.as_object(), "line") << ": " << field_text(x.as_object(), "reason") << '\n';
    if (r->status == 400) complain(field_text(r->body, "error"));
    else
      std::cout << "Imported " << file << ": " << field_text(r->body, "imported") << " new, " << field_text(r->body, "updated")
                << " updated, " << field_text(r->body, "unchanged") << " unchanged, " << rejected << " rejected.\n";
  }
  if (r->status == 400) return kUsage;
  return rejected == "0" ? kOk : kFailure;
}

int list_people(const CtlFlags& f, bool hr, const std::string& user, bool as_json) {
  int code = kOk;
  auto s = open_session(f, code);
  if (!s) return code;
  const std::string target = std::string(hr ? "/api/v1/hr" : "/api/v1/users/attributes") +
                             (user.empty() ? "" : "?user=" + url_encode(user));
  auto r = call(*s, "GET", target, "", code);
  if (!r) return code;
  const char* key = hr ? "records" : "users";
  if (as_json) {
    print_lines(r->body, key);
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* v = r->body.if_contains(key); v && v->is_array())
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      const auto& o = e.as_object();
      if (hr) {
        std::string detail = field_text(o, "detail");
        for (auto& c : detail)
          if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        rows.push_back({field_text(o, "user"), field_text(o, "event"), field_text(o, "date"), detail.substr(0, 80)});
      } else {
        rows.push_back({field_text(o, "user"), field_text(o, "department"), field_text(o, "region"),
                        field_text(o, "manager"), list_text(o, "priority_groups")});
      }
    }
  if (rows.empty()) {
    std::cout << (hr ? "No HR records. Import some with 'vigilctl hr import FILE.csv'.\n"
                     : "No user attributes. Import some with 'vigilctl users import-attributes FILE.csv'.\n");
    return kOk;
  }
  if (hr) print_table(std::cout, {"USER", "EVENT", "DATE", "DETAIL"}, rows);
  else print_table(std::cout, {"USER", "DEPARTMENT", "REGION", "MANAGER", "PRIORITY GROUPS"}, rows);
  return kOk;
}

}  // namespace

void add_policy_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  // The parsed arguments live as long as the app (the callbacks run during parse()).
  struct Args {
    std::string id, file, user;
    bool json = false, replace = false;
  };
  auto a = std::make_shared<Args>();
  auto json_flag = [a](CLI::App* c, const char* what = "print the server's JSON (listings: one object per line)") {
    c->add_flag("--json", a->json, what);
  };

  auto* pol = app.add_subcommand("policies", "insider-risk policies (docs/POLICIES.md)");
  pol->require_subcommand(1);
  auto* c = pol->add_subcommand("list", "list policies with their health");
  json_flag(c);
  c->callback([&, a] { result = policies_list(flags, a->json); });
  c = pol->add_subcommand("show", "show one policy: settings, indicators, health warnings");
  c->add_option("id", a->id, "policy id (p-1)")->required();
  json_flag(c);
  c->callback([&, a] { result = policies_show(flags, a->id, a->json); });
  c = pol->add_subcommand("create", "create a policy from FILE.json ('-' reads stdin)");
  c->add_option("file", a->file, "JSON file")->required();
  json_flag(c);
  c->callback([&, a] { result = policies_write(flags, "", a->file, a->json); });
  c = pol->add_subcommand("update", "replace policy ID with FILE.json (version grows)");
  c->add_option("id", a->id, "policy id")->required();
  c->add_option("file", a->file, "JSON file")->required();
  json_flag(c);
  c->callback([&, a] { result = policies_write(flags, a->id, a->file, a->json); });
  c = pol->add_subcommand("delete", "delete a policy");
  c->add_option("id", a->id, "policy id")->required();
  json_flag(c);
  c->callback([&, a] { result = delete_thing(flags, "Policy", "/api/v1/policies/", a->id, a->json); });
  c = pol->add_subcommand("validate", "check FILE.json without storing it: errors (exit 2) and health warnings");
  c->add_option("file", a->file, "JSON file")->required();
  json_flag(c);
  c->callback([&, a] { result = policies_validate(flags, a->file, a->json); });

  auto* tpl = app.add_subcommand("templates", "the policy templates");
  tpl->require_subcommand(1);
  c = tpl->add_subcommand("list", "list templates: indicators, defaults, prerequisites");
  json_flag(c);
  c->callback([&, a] { result = templates_list(flags, a->json); });

  auto* dlp = app.add_subcommand("dlp-rules", "DLP rules: which sensitive info, how much, on which channel, which severity");
  dlp->require_subcommand(1);
  c = dlp->add_subcommand("list", "list DLP rules");
  json_flag(c);
  c->callback([&, a] { result = dlp_list(flags, a->json); });
  c = dlp->add_subcommand("create", "create a DLP rule from FILE.json");
  c->add_option("file", a->file, "JSON file ('-' reads stdin)")->required();
  json_flag(c);
  c->callback([&, a] { result = dlp_write(flags, "", a->file, a->json); });
  c = dlp->add_subcommand("update", "replace DLP rule ID with FILE.json");
  c->add_option("id", a->id, "rule id (d-1)")->required();
  c->add_option("file", a->file, "JSON file")->required();
  json_flag(c);
  c->callback([&, a] { result = dlp_write(flags, a->id, a->file, a->json); });
  c = dlp->add_subcommand("delete", "delete a DLP rule");
  c->add_option("id", a->id, "rule id")->required();
  json_flag(c);
  c->callback([&, a] { result = delete_thing(flags, "DLP rule", "/api/v1/dlp-rules/", a->id, a->json); });

  auto* hr = app.add_subcommand("hr", "HR connector data: resignations, last working dates, performance events");
  hr->require_subcommand(1);
  c = hr->add_subcommand("import", "import an HR CSV file (docs/HR_IMPORT.md); bad rows are listed by line");
  c->add_option("file", a->file, "CSV file ('-' reads stdin)")->required();
  c->add_flag("--replace", a->replace, "the file becomes the whole HR data set (refused if any row is bad)");
  json_flag(c, "print the import report as one JSON object");
  c->callback([&, a] { result = import_csv(flags, "/api/v1/hr/import", a->file, a->replace, a->json); });
  c = hr->add_subcommand("list", "list imported HR records");
  c->add_option("--user", a->user, "only this user");
  json_flag(c);
  c->callback([&, a] { result = list_people(flags, true, a->user, a->json); });

  auto* users = app.add_subcommand("users", "users: attributes and priority groups");
  c = users->add_subcommand("import-attributes", "import a user attributes CSV (department, region, manager, priority_groups)");
  c->add_option("file", a->file, "CSV file ('-' reads stdin)")->required();
  c->add_flag("--replace", a->replace, "the file becomes the whole attribute set (refused if any row is bad)");
  json_flag(c, "print the import report as one JSON object");
  c->callback([&, a] { result = import_csv(flags, "/api/v1/users/attributes/import", a->file, a->replace, a->json); });
  c = users->add_subcommand("attributes", "list imported user attributes");
  c->add_option("--user", a->user, "only this user");
  json_flag(c);
  c->callback([&, a] { result = list_people(flags, false, a->user, a->json); });
  users->callback([&, users] {
    if (users->get_subcommands().empty()) {
      complain("users: choose a command (import-attributes, attributes); see 'vigilctl users --help'");
      result = kUsage;
    }
  });
}

}  // namespace vigil::ctl
