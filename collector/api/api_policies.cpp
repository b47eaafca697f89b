// Policy routes (docs/POLICIES.md, docs/HR_IMPORT.md):
//   GET/POST            /api/v1/policies            list (with health) / create
//   POST                /api/v1/policies/validate   errors or health, nothing stored
//   GET/PUT/DELETE      /api/v1/policies/{id}
//   GET                 /api/v1/templates
//   GET/POST            /api/v1/dlp-rules
//   GET/PUT/DELETE      /api/v1/dlp-rules/{id}
//   POST                /api/v1/hr/import                 text/csv; [?replace=true][&source=NAME]
//   GET                 /api/v1/hr                        [?user=NAME]
//   POST                /api/v1/users/attributes/import   text/csv; [?replace=true]
//   GET                 /api/v1/users/attributes          [?user=NAME]
// Bodies are validated before the storage job runs; a rejected body changes nothing.
#include <algorithm>
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/api/query_params.h"
#include "collector/policy/csv_import.h"
#include "collector/policy/policy_json.h"
#include "collector/policy/templates.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace vigil::collector::policy;

namespace {

Dispatch answer(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad(std::string_view message) { return answer(error_response(http::status::bad_request, message)); }
Dispatch job(std::function<HttpResponse()> f) { return Dispatch{std::nullopt, std::move(f)}; }

HttpResponse storage_error(const std::string& e) {
  return error_response(http::status::internal_server_error, "storage: " + e);
}

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// Accepted query parameters, each at most once; anything else is a 400 naming it.
Result<std::map<std::string, std::string>> query_of(std::string_view query, std::initializer_list<std::string_view> accepted) {
  auto params = parse_query(query);
  if (!params) return err(params.error());
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : *params) {
    if (std::find(accepted.begin(), accepted.end(), name) == accepted.end()) {
      std::string list;
      for (auto a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
      return err("unknown query parameter '" + name + "'" +
                 (list.empty() ? " (this endpoint takes none)" : " (accepted: " + list + ")"));
    }
    if (!out.emplace(name, value).second) return err("query parameter '" + name + "' given more than once");
  }
  return out;
}

Result<json::value> parse_body(const HttpRequest& req) {
  if (req.body().empty()) return err("request body is empty: send a JSON object");
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec) return err("request body is not valid JSON: " + ec.message());
  return v;
}

json::array policies_json(const std::vector<Policy>& ps, const DirectoryFacts& facts) {
  json::array a;
  for (const auto& p : ps) a.emplace_back(policy_to_json(p, policy_health(p, facts)));
  return a;
}

HttpResponse conflict_name(std::string_view kind, const std::string& name) {
  return error_response(http::status::conflict, std::string(kind) + " named '" + name + "' already exists (names are unique)");
}

HttpResponse not_found(std::string_view kind, const std::string& id) {
  return error_response(http::status::not_found, "no such " + std::string(kind) + ": " + id);
}

// The CSV body of an import; refuses bodies that are clearly something else.
std::optional<HttpResponse> check_csv(const HttpRequest& req) {
  auto it = req.find(http::field::content_type);
  if (it == req.end()) return std::nullopt;
  std::string ct(sv(it->value()));
  ct = ct.substr(0, ct.find(';'));
  for (auto& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (ct == "text/csv" || ct == "text/plain" || ct == "application/octet-stream" || ct.empty()) return std::nullopt;
  return error_response(http::status::unsupported_media_type,
                        "the import body must be a CSV file (Content-Type: text/csv), not " + ct);
}

Result<bool> replace_param(const std::map<std::string, std::string>& q) {
  auto it = q.find("replace");
  if (it == q.end() || it->second.empty() || it->second == "false") return false;
  if (it->second == "true") return true;
  return err("'replace' must be true or false; got '" + it->second + "'");
}

HttpResponse import_response(const Result<ImportReport>& r) {
  if (!r) {
    // Whole-file problems (header, size, storage) read as the request's fault unless storage failed.
    const bool storage = r.error().rfind("sqlite:", 0) == 0;
    return storage ? storage_error(r.error()) : error_response(http::status::bad_request, r.error());
  }
  json::object o;
  o["applied"] = r->applied;
  o["imported"] = r->counts.imported;
  o["updated"] = r->counts.updated;
  o["unchanged"] = r->counts.unchanged;
  o["rejected"] = r->rejected;
  json::array errors;
  for (const auto& e : r->errors) errors.emplace_back(json::object{{"line", e.line}, {"reason", e.reason}});
  o["errors"] = std::move(errors);
  if (!r->applied) {
    o["error"] = "replace refused: " + std::to_string(r->rejected) +
                 " rows are bad and would be lost; fix them and import again (nothing changed)";
    return json_response(http::status::bad_request, o);
  }
  return json_response(http::status::ok, o);
}

}  // namespace

// The route table (api_routes.cpp) has matched the path and checked method and permission; this
// works out which resource and id the path names.
Dispatch ApiHandler::policy_routes(const HttpRequest& req, const std::string& path, std::string_view query) const {
  // Which resource, and the {id} after it when there is one.
  struct Resource {
    std::string_view prefix;
    bool takes_id;
  };
  static constexpr Resource kResources[] = {
      {"/api/v1/policies", true},       {"/api/v1/templates", false},         {"/api/v1/dlp-rules", true},
      {"/api/v1/hr", false},            {"/api/v1/hr/import", false},         {"/api/v1/users/attributes", false},
      {"/api/v1/users/attributes/import", false},
  };
  std::string_view resource;
  std::string id;
  for (const auto& r : kResources) {
    if (path == r.prefix) {
      resource = r.prefix;
      id.clear();
      break;
    }
    if (r.takes_id && path.size() > r.prefix.size() + 1 && path.compare(0, r.prefix.size(), r.prefix) == 0 &&
        path[r.prefix.size()] == '/' && path.find('/', r.prefix.size() + 1) == std::string::npos) {
      resource = r.prefix;
      id = path.substr(r.prefix.size() + 1);
    }
  }
  if (resource.empty()) return answer(error_response(http::status::not_found, "no such endpoint: " + path));
  const bool validate = resource == "/api/v1/policies" && id == "validate";
  if (validate) id.clear();

  const auto method = req.method();
  if (!policies_) return answer(error_response(http::status::service_unavailable, "policies are not available"));
  SqlitePolicyStore* store = policies_;

  // ---- templates
  if (resource == "/api/v1/templates") {
    if (auto q = query_of(query, {}); !q) return bad(q.error());
    json::array a;
    for (const auto& t : all_templates()) a.emplace_back(template_to_json(t.tmpl));
    return answer(json_response(http::status::ok, json::object{{"templates", std::move(a)}}));
  }

  // ---- policies
  if (resource == "/api/v1/policies") {
    if (auto q = query_of(query, {}); !q) return bad(q.error());
    if (validate) {
      // Always 200: the answer says whether the policy is valid, why not, and its health.
      std::vector<std::string> errors;
      std::optional<Policy> parsed;
      auto body = parse_body(req);
      if (!body) errors.push_back(body.error());
      else if (auto p = policy_from_json(*body); !p) errors.push_back(p.error());
      else parsed = std::move(*p);
      return job([store, parsed, errors]() mutable {
        json::object o;
        if (parsed) {
          for (const auto& existing : store->policies())
            if (existing.name == parsed->name)
              errors.push_back("a policy named '" + parsed->name + "' already exists (" + existing.id +
                               "); creating it would fail, updating " + existing.id + " would not");
          const auto health = policy_health(*parsed, *store);
          o["policy"] = policy_to_json(*parsed, health);
          json::array w;
          for (const auto& s : health.warnings) w.emplace_back(s);
          o["health"] = json::object{{"warnings", std::move(w)}};
        }
        json::array e;
        for (auto& s : errors) e.emplace_back(s);
        o["valid"] = parsed.has_value();
        o["errors"] = std::move(e);
        return json_response(http::status::ok, o);
      });
    }
    if (id.empty() && method == http::verb::get)
      return job([store] {
        auto ps = store->policies();
        return json_response(http::status::ok,
                             json::object{{"count", ps.size()}, {"policies", policies_json(ps, gather_facts(*store))}});
      });
    if (id.empty()) {  // POST
      auto body = parse_body(req);
      if (!body) return bad(body.error());
      auto p = policy_from_json(*body);
      if (!p) return bad(p.error());
      return job([store, p = std::move(*p)]() mutable {
        const std::string name = p.name;
        auto w = store->create_policy(std::move(p), now_ns());
        if (!w) return storage_error(w.error());
        if (w->outcome == WriteOutcome::NameTaken) return conflict_name("a policy", name);
        return json_response(http::status::created, policy_to_json(w->value, policy_health(w->value, *store)));
      });
    }
    if (method == http::verb::get)
      return job([store, id] {
        auto p = store->policy(id);
        if (!p) return not_found("policy", id);
        return json_response(http::status::ok, policy_to_json(*p, policy_health(*p, *store)));
      });
    if (method == http::verb::put) {
      auto body = parse_body(req);
      if (!body) return bad(body.error());
      auto p = policy_from_json(*body);
      if (!p) return bad(p.error());
      if (auto* given = body->as_object().if_contains("id"); given && (!given->is_string() || given->as_string() != id))
        return bad("'id' in the body (" + json::serialize(*given) + ") is not the policy being updated (" + id + ")");
      return job([store, id, p = std::move(*p)]() mutable {
        const std::string name = p.name;
        auto w = store->update_policy(id, std::move(p), now_ns());
        if (!w) return storage_error(w.error());
        if (w->outcome == WriteOutcome::NotFound) return not_found("policy", id);
        if (w->outcome == WriteOutcome::NameTaken) return conflict_name("another policy", name);
        return json_response(http::status::ok, policy_to_json(w->value, policy_health(w->value, *store)));
      });
    }
    return job([store, id] {  // DELETE
      auto d = store->delete_policy(id);
      if (!d) return storage_error(d.error());
      if (!*d) return not_found("policy", id);
      return json_response(http::status::ok, json::object{{"id", id}, {"deleted", true}});
    });
  }

  // ---- DLP rules
  if (resource == "/api/v1/dlp-rules") {
    if (auto q = query_of(query, {}); !q) return bad(q.error());
    if (id.empty() && method == http::verb::get)
      return job([store] {
        json::array a;
        for (const auto& r : store->dlp_rules()) a.emplace_back(dlp_rule_to_json(r));
        return json_response(http::status::ok, json::object{{"count", a.size()}, {"dlp_rules", std::move(a)}});
      });
    if (method == http::verb::get)
      return job([store, id] {
        auto r = store->dlp_rule(id);
        if (!r) return not_found("DLP rule", id);
        return json_response(http::status::ok, dlp_rule_to_json(*r));
      });
    if (method == http::verb::delete_)
      return job([store, id] {
        auto d = store->delete_dlp_rule(id);
        if (!d) return storage_error(d.error());
        if (!*d) return not_found("DLP rule", id);
        return json_response(http::status::ok, json::object{{"id", id}, {"deleted", true}});
      });
    auto body = parse_body(req);
    if (!body) return bad(body.error());
    auto r = dlp_rule_from_json(*body);
    if (!r) return bad(r.error());
    if (id.empty())
      return job([store, r = std::move(*r)]() mutable {
        const std::string name = r.name;
        auto w = store->create_dlp_rule(std::move(r));
        if (!w) return storage_error(w.error());
        if (w->outcome == WriteOutcome::NameTaken) return conflict_name("a DLP rule", name);
        return json_response(http::status::created, dlp_rule_to_json(w->value));
      });
    if (auto* given = body->as_object().if_contains("id"); given && (!given->is_string() || given->as_string() != id))
      return bad("'id' in the body (" + json::serialize(*given) + ") is not the rule being updated (" + id + ")");
    return job([store, id, r = std::move(*r)]() mutable {
      const std::string name = r.name;
      auto w = store->update_dlp_rule(id, std::move(r));
      if (!w) return storage_error(w.error());
      if (w->outcome == WriteOutcome::NotFound) return not_found("DLP rule", id);
      if (w->outcome == WriteOutcome::NameTaken) return conflict_name("another DLP rule", name);
      return json_response(http::status::ok, dlp_rule_to_json(w->value));
    });
  }

  // ---- imports
  if (resource == "/api/v1/hr/import" || resource == "/api/v1/users/attributes/import") {
    const bool hr = resource == "/api/v1/hr/import";
    auto q = hr ? query_of(query, {"replace", "source"}) : query_of(query, {"replace"});
    if (!q) return bad(q.error());
    auto replace = replace_param(*q);
    if (!replace) return bad(replace.error());
    if (auto refused = check_csv(req)) return answer(std::move(*refused));
    std::string source = "api";
    if (auto it = q->find("source"); it != q->end() && !it->second.empty()) {
      if (it->second.size() > 256 || !valid_utf8(it->second) ||
          std::any_of(it->second.begin(), it->second.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        return bad("'source' must be a short printable name");
      source = "api:" + it->second;
    }
    if (req.body().size() > kMaxCsvBytes)
      return bad("the CSV body is " + std::to_string(req.body().size()) + " bytes; the limit is " +
                 std::to_string(kMaxCsvBytes) + " bytes (split it into smaller files)");
    // The body is copied into the job: the request does not outlive dispatch().
    return job([store, hr, replace = *replace, source, body = req.body()] {
      return import_response(hr ? import_hr_csv(*store, body, source, replace)
                                : import_attributes_csv(*store, body, replace));
    });
  }

  // GET /api/v1/hr and /api/v1/users/attributes are answered by people_listing() (api_people.cpp),
  // which applies the caller's population scope and pseudonyms.
  return answer(error_response(http::status::not_found, "no such endpoint: " + path));
}

}  // namespace vigil::collector
