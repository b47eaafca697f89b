// Accounts, role groups, roles, tokens and sessions (docs/ROLES.md):
//   POST/DELETE      /api/v1/session                 log in (public) / log out (revoke own token)
//   GET              /api/v1/whoami
//   GET              /api/v1/roles
//   GET/POST         /api/v1/accounts               GET/PUT/DELETE /api/v1/accounts/{name}
//   GET/POST         /api/v1/role-groups            GET/PUT/DELETE /api/v1/role-groups/{name}
//   POST             /api/v1/role-groups/{name}/members   DELETE .../members/{account}
//   GET/POST         /api/v1/tokens                 DELETE /api/v1/tokens/{id}
// Bodies are checked completely (unknown fields, types, names, roles) before the storage job
// runs; password hashing and store access happen in the job.
#include <algorithm>
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/auth/auth_service.h"
#include "collector/auth/roles.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace vigil::collector::auth;

namespace {

Dispatch answer(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad(std::string_view m) { return answer(error_response(http::status::bad_request, m)); }
Dispatch job(std::function<HttpResponse()> f) { return Dispatch{std::nullopt, std::move(f)}; }
Dispatch no_auth() {
  return answer(error_response(http::status::service_unavailable, "this collector has no account store"));
}
HttpResponse storage_error(const std::string& e) {
  return error_response(http::status::internal_server_error, "account store: " + e);
}

constexpr std::size_t kMinPassword = 10;
constexpr std::size_t kMaxPassword = 1024;

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '@';
         });
}
std::string name_rule(std::string_view what) {
  return std::string(what) + " must be 1-64 characters of letters, digits, '.', '_', '-', '@'";
}

json::array permission_names(const PermissionSet& s) {
  json::array a;
  for (std::size_t i = 0; i < kPermissionCount; ++i)
    if (s.test(i)) a.emplace_back(permission_name(static_cast<Permission>(i)));
  return a;
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object account_json(const Account& a, const std::vector<RoleGroup>* groups = nullptr) {
  json::object o;
  o["name"] = a.name;
  o["disabled"] = a.disabled;
  o["created"] = format_rfc3339(a.created_ns, 0);
  o["groups"] = strings(a.groups);
  if (groups) {
    PermissionSet p;
    for (const auto& g : *groups) p |= permissions_of(g.roles);
    o["permissions"] = permission_names(p);
  }
  return o;
}

json::object group_json(const RoleGroup& g) {
  json::object o;
  o["name"] = g.name;
  o["description"] = g.description;
  o["builtin"] = g.builtin;
  o["roles"] = strings(g.roles);
  o["permissions"] = permission_names(permissions_of(g.roles));
  if (g.scope.attribute.empty()) o["scope"] = nullptr;
  else o["scope"] = json::object{{"attribute", g.scope.attribute}, {"values", strings(g.scope.values)}};
  o["members"] = strings(g.members);
  return o;
}

json::object token_json(const TokenInfo& t, std::int64_t now_time) {
  json::object o;
  o["id"] = t.id;
  o["account"] = t.account;
  o["label"] = t.label;
  o["kind"] = t.kind;
  o["created"] = format_rfc3339(t.created_ns, 0);
  o["expires"] = format_rfc3339(t.expires_ns, 0);
  o["revoked"] = t.revoked_ns ? json::value(format_rfc3339(*t.revoked_ns, 0)) : json::value(nullptr);
  o["state"] = t.revoked_ns ? "revoked" : now_time >= t.expires_ns ? "expired" : "active";
  return o;
}

HttpResponse write_response(const Write& w, http::status ok_status, json::value body) {
  switch (w.outcome) {
    case Outcome::Ok: return json_response(ok_status, body);
    case Outcome::NotFound: return error_response(http::status::not_found, w.detail);
    case Outcome::Exists: return error_response(http::status::conflict, w.detail);
    case Outcome::LastAdmin: return error_response(http::status::conflict, "refused: " + w.detail);
    case Outcome::Builtin: return error_response(http::status::conflict, w.detail);
  }
  return error_response(http::status::internal_server_error, "unexpected outcome");
}

// A JSON object body whose fields are all among `accepted`; "" body allowed when allow_empty.
Result<json::object> body_object(const HttpRequest& req, std::initializer_list<std::string_view> accepted,
                                 bool allow_empty = false) {
  std::string_view b = req.body();
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r' || b.back() == ' ')) b.remove_suffix(1);
  if (b.empty()) {
    if (allow_empty) return json::object{};
    std::string list;
    for (auto a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
    return err("request body is empty: send a JSON object (fields: " + list + ")");
  }
  boost::system::error_code ec;
  json::value v = json::parse(b, ec);
  if (ec) return err("request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return err("request body must be a JSON object");
  for (const auto& [k, _] : v.as_object()) {
    if (std::find(accepted.begin(), accepted.end(), std::string_view(k)) == accepted.end()) {
      std::string list;
      for (auto a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
      return err("unknown field '" + std::string(k) + "' in request body (accepted: " + list + ")");
    }
  }
  return std::move(v.as_object());
}

Result<std::optional<std::string>> opt_string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return err("'" + std::string(key) + "' must be a string");
  return std::optional<std::string>(std::string(v->as_string()));
}

Result<std::optional<std::vector<std::string>>> opt_strings(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::optional<std::vector<std::string>>{};
  if (!v->is_array()) return err("'" + std::string(key) + "' must be an array of strings");
  std::vector<std::string> out;
  for (const auto& x : v->as_array()) {
    if (!x.is_string()) return err("'" + std::string(key) + "' must be an array of strings");
    out.emplace_back(x.as_string());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Status check_password(const std::string& p) {
  if (p.size() < kMinPassword || p.size() > kMaxPassword)
    return err("'password' must be " + std::to_string(kMinPassword) + " to " + std::to_string(kMaxPassword) + " bytes long");
  return {};
}

Status check_roles(const std::vector<std::string>& rs) {
  if (rs.empty()) return err("'roles' must name at least one role (see GET /api/v1/roles)");
  for (const auto& r : rs)
    if (!find_role(r)) {
      std::string list;
      for (const auto& x : roles()) list += (list.empty() ? "" : ", ") + std::string(x.name);
      return err("unknown role '" + r + "' (roles: " + list + ")");
    }
  return {};
}

Result<Scope> parse_scope(const json::value* v) {
  Scope s;
  if (!v || v->is_null()) return s;
  if (!v->is_object()) return err("'scope' must be null or {\"attribute\": \"department\"|\"region\", \"values\": [...]}");
  for (const auto& [k, x] : v->as_object()) {
    if (k == "attribute") {
      if (!x.is_string() || (x.as_string() != "department" && x.as_string() != "region"))
        return err("'scope.attribute' must be \"department\" or \"region\"");
      s.attribute = std::string(x.as_string());
    } else if (k == "values") {
      if (!x.is_array() || x.as_array().empty() || x.as_array().size() > 1000)
        return err("'scope.values' must be an array of 1 to 1000 non-empty strings");
      for (const auto& e : x.as_array()) {
        if (!e.is_string() || e.as_string().empty() || e.as_string().size() > 256 ||
            e.as_string().find('\n') != json::string::npos)
          return err("'scope.values' must be an array of 1 to 1000 non-empty strings");
        s.values.emplace_back(e.as_string());
      }
    } else {
      return err("unknown field 'scope." + std::string(k) + "' (accepted: attribute, values)");
    }
  }
  if (s.attribute.empty() || s.values.empty()) return err("'scope' needs both 'attribute' and 'values'");
  return s;
}

Result<std::int64_t> parse_ttl(const json::object& o, std::int64_t fallback) {
  auto t = opt_string(o, "ttl");
  if (!t) return err(t.error());
  if (!*t) return fallback;
  auto d = parse_duration_ns(**t);
  if (!d) return err("'ttl': " + d.error());
  if (*d <= 0 || *d > kMaxTokenTtlNs) return err("'ttl' must be more than 0 and at most 365d");
  return *d;
}

std::string bearer_of(const HttpRequest& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string v(it->value());
  auto sp = v.find(' ');
  if (sp == std::string::npos) return {};
  v = v.substr(sp + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

}  // namespace

void ApiHandler::set_auth_service(AuthService* service) {
  auth_service_ = service;
  authenticator_ = service;
  if (service)
    service->set_reveal_hook([this](const std::string& actor, const std::string& user) {
      Caller c;
      c.name = actor;
      // A reveal that cannot be recorded is logged by the sink itself; the answer still goes out
      // (the caller is entitled to the name), and the next reveal tries again.
      (void)audit(c, "reveal_names", user, 200, "real name shown (recorded at most once an hour per user)");
    });
}

Dispatch ApiHandler::login(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto o = body_object(c.req, {"user", "password"});
  if (!o) return bad(o.error());
  auto user = opt_string(*o, "user");
  auto password = opt_string(*o, "password");
  if (!user) return bad(user.error());
  if (!password) return bad(password.error());
  if (!*user || !*password) return bad("both 'user' and 'password' are required");
  if (!valid_name(**user)) return bad(name_rule("'user'"));
  if ((*password)->size() > kMaxPassword) return bad("'password' is too long");
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, u = **user, p = **password, remote = c.caller.remote] {
    auto r = svc->login(u, p, remote);
    if (!r) return storage_error(r.error());
    if (r->kind == LoginOutcome::Kind::Throttled) {
      auto resp = error_response(http::status::too_many_requests,
                                 "too many failed logins; try again in " + std::to_string(r->retry_after_s) + " s");
      resp.set(http::field::retry_after, std::to_string(r->retry_after_s));
      return resp;
    }
    if (r->kind == LoginOutcome::Kind::Refused)
      return error_response(http::status::unauthorized, "wrong user name or password (or the account is disabled)");
    json::object out;
    out["token"] = r->token;
    out["id"] = r->info.id;
    out["account"] = r->info.account;
    out["expires"] = format_rfc3339(r->info.expires_ns, 0);
    return json_response(http::status::created, out);
  });
}

Dispatch ApiHandler::logout(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, token = bearer_of(c.req)] {
    auto t = svc->token_info(token);
    if (!t) return storage_error(t.error());
    if (!*t)
      return error_response(http::status::bad_request,
                            "this is the bootstrap admin token (DATA_DIR/admin.token): it cannot be logged out; "
                            "replace the file to change it");
    auto w = svc->store().revoke_token((*t)->id, svc->now());
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::ok, json::object{{"revoked", (*t)->id}});
  });
}

Dispatch ApiHandler::whoami(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  json::object o;
  o["name"] = c.caller.name;
  o["permissions"] = permission_names(c.caller.permissions);
  // Not shown_user(): that would record a reveal. A caller shown real names matches a real name.
  o["reveal_names"] = c.caller.user_filter_matches("x", "x");
  // Scope is per permission: which of the caller's permissions show only a population.
  json::array scoped_permissions;
  for (std::size_t i = 0; i < kPermissionCount; ++i)
    if (c.caller.permissions.test(i) && c.caller.scoped_for(static_cast<Permission>(i)))
      scoped_permissions.emplace_back(permission_name(static_cast<Permission>(i)));
  o["scoped"] = !scoped_permissions.empty();
  o["scoped_permissions"] = std::move(scoped_permissions);
  if (!auth_service_) {
    o["groups"] = json::array{};
    o["bootstrap"] = true;
    return answer(json_response(http::status::ok, o));
  }
  return job([svc = auth_service_, o, name = c.caller.name, token = bearer_of(c.req)]() mutable {
    auto t = svc->token_info(token);
    if (!t) return storage_error(t.error());
    o["bootstrap"] = !*t;
    json::array groups;
    if (*t) {
      auto gs = svc->store().groups_of(name);
      if (!gs) return storage_error(gs.error());
      for (const auto& g : *gs) groups.emplace_back(g.name);
      o["token"] = token_json(**t, svc->now());
    }
    o["groups"] = std::move(groups);
    return json_response(http::status::ok, o);
  });
}

Dispatch ApiHandler::list_roles(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  json::array rs;
  for (const auto& r : roles())
    rs.emplace_back(json::object{{"name", r.name}, {"description", r.description}, {"permissions", permission_names(r.permissions)}});
  json::array gs;
  for (const auto& g : builtin_groups()) {
    json::array names;
    for (auto n : g.roles) names.emplace_back(n);
    gs.emplace_back(json::object{{"name", g.name}, {"description", g.description}, {"roles", std::move(names)}});
  }
  return answer(json_response(http::status::ok, json::object{{"roles", std::move(rs)}, {"builtin_groups", std::move(gs)}}));
}

Dispatch ApiHandler::list_accounts(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_] {
    auto as = svc->store().list_accounts();
    if (!as) return storage_error(as.error());
    json::array a;
    for (const auto& x : *as) a.emplace_back(account_json(x));
    return json_response(http::status::ok, json::object{{"count", a.size()}, {"accounts", std::move(a)}});
  });
}

Dispatch ApiHandler::create_account(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto o = body_object(c.req, {"name", "password", "groups"});
  if (!o) return bad(o.error());
  auto name = opt_string(*o, "name");
  auto password = opt_string(*o, "password");
  auto groups = opt_strings(*o, "groups");
  if (!name) return bad(name.error());
  if (!password) return bad(password.error());
  if (!groups) return bad(groups.error());
  if (!*name || !*password) return bad("'name' and 'password' are required");
  if (!valid_name(**name)) return bad(name_rule("'name'"));
  if (auto s = check_password(**password); !s) return bad(s.error());
  std::vector<std::string> gs = groups->value_or(std::vector<std::string>{});
  for (const auto& g : gs)
    if (!valid_name(g)) return bad(name_rule("each of 'groups'"));
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = **name, p = **password, gs] {
    auto h = hash_password(p);
    if (!h) return storage_error(h.error());
    auto w = svc->store().add_account(n, *h, gs, svc->now());
    if (!w) return storage_error(w.error());
    if (w->outcome != Outcome::Ok) return write_response(*w, http::status::created, nullptr);
    auto a = svc->store().find_account(n);
    if (!a || !*a) return storage_error(a ? "account vanished" : a.error());
    (*a)->password_hash.clear();
    return json_response(http::status::created, account_json(**a));
  });
}

Dispatch ApiHandler::show_account(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = c.params[0]] {
    auto a = svc->store().find_account(n);
    if (!a) return storage_error(a.error());
    if (!*a) return error_response(http::status::not_found, "no account '" + n + "'");
    auto gs = svc->store().groups_of(n);
    if (!gs) return storage_error(gs.error());
    return json_response(http::status::ok, account_json(**a, &*gs));
  });
}

Dispatch ApiHandler::update_account(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto o = body_object(c.req, {"password", "disabled"});
  if (!o) return bad(o.error());
  auto password = opt_string(*o, "password");
  if (!password) return bad(password.error());
  if (*password)
    if (auto s = check_password(**password); !s) return bad(s.error());
  std::optional<bool> disabled;
  if (auto* d = o->if_contains("disabled")) {
    if (!d->is_bool()) return bad("'disabled' must be true or false");
    disabled = d->as_bool();
  }
  if (!*password && !disabled) return bad("nothing to change: give 'password' and/or 'disabled'");
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = c.params[0], p = *password, disabled] {
    std::optional<std::string> hash;
    if (p) {
      auto h = hash_password(*p);
      if (!h) return storage_error(h.error());
      hash = *h;
    }
    auto w = svc->store().update_account(n, hash, disabled, svc->now());
    if (!w) return storage_error(w.error());
    if (w->outcome != Outcome::Ok) return write_response(*w, http::status::ok, nullptr);
    auto a = svc->store().find_account(n);
    if (!a || !*a) return storage_error(a ? "account vanished" : a.error());
    return json_response(http::status::ok, account_json(**a));
  });
}

Dispatch ApiHandler::delete_account(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = c.params[0]] {
    auto w = svc->store().delete_account(n);
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::ok, json::object{{"deleted", n}});
  });
}

Dispatch ApiHandler::list_role_groups(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_] {
    auto gs = svc->store().list_groups();
    if (!gs) return storage_error(gs.error());
    json::array a;
    for (const auto& g : *gs) a.emplace_back(group_json(g));
    return json_response(http::status::ok, json::object{{"count", a.size()}, {"role_groups", std::move(a)}});
  });
}

namespace {

// The body of a role group create (name required) or replace (name from the path).
Result<RoleGroup> group_from_body(const HttpRequest& req, bool create) {
  auto o = create ? body_object(req, {"name", "description", "roles", "scope"})
                  : body_object(req, {"description", "roles", "scope"});
  if (!o) return err(o.error());
  RoleGroup g;
  if (create) {
    auto name = opt_string(*o, "name");
    if (!name) return err(name.error());
    if (!*name) return err("'name' is required");
    if (!valid_name(**name)) return err(name_rule("'name'"));
    g.name = **name;
  }
  auto d = opt_string(*o, "description");
  if (!d) return err(d.error());
  if (*d && (*d)->size() > 1000) return err("'description' is longer than 1000 bytes");
  g.description = d->value_or("");
  auto rs = opt_strings(*o, "roles");
  if (!rs) return err(rs.error());
  if (!*rs) return err("'roles' is required (see GET /api/v1/roles)");
  if (auto s = check_roles(**rs); !s) return err(s.error());
  g.roles = **rs;
  auto scope = parse_scope(o->if_contains("scope"));
  if (!scope) return err(scope.error());
  g.scope = std::move(*scope);
  return g;
}

}  // namespace

Dispatch ApiHandler::create_role_group(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto g = group_from_body(c.req, true);
  if (!g) return bad(g.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, g = std::move(*g)] {
    auto w = svc->store().create_group(g);
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::created, group_json(g));
  });
}

Dispatch ApiHandler::show_role_group(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = c.params[0]] {
    auto g = svc->store().find_group(n);
    if (!g) return storage_error(g.error());
    if (!*g) return error_response(http::status::not_found, "no role group '" + n + "'");
    return json_response(http::status::ok, group_json(**g));
  });
}

Dispatch ApiHandler::update_role_group(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto g = group_from_body(c.req, false);
  if (!g) return bad(g.error());
  g->name = c.params[0];
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, g = std::move(*g)] {
    auto w = svc->store().update_group(g);
    if (!w) return storage_error(w.error());
    if (w->outcome != Outcome::Ok) return write_response(*w, http::status::ok, nullptr);
    auto now_g = svc->store().find_group(g.name);
    if (!now_g || !*now_g) return storage_error(now_g ? "role group vanished" : now_g.error());
    return json_response(http::status::ok, group_json(**now_g));
  });
}

Dispatch ApiHandler::delete_role_group(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, n = c.params[0]] {
    auto w = svc->store().delete_group(n);
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::ok, json::object{{"deleted", n}});
  });
}

Dispatch ApiHandler::add_role_group_member(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto o = body_object(c.req, {"account"});
  if (!o) return bad(o.error());
  auto a = opt_string(*o, "account");
  if (!a) return bad(a.error());
  if (!*a) return bad("'account' is required");
  if (!valid_name(**a)) return bad(name_rule("'account'"));
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, g = c.params[0], a = **a] {
    auto w = svc->store().add_member(g, a);
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::created, json::object{{"group", g}, {"account", a}});
  });
}

Dispatch ApiHandler::remove_role_group_member(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, g = c.params[0], a = c.params[1]] {
    auto w = svc->store().remove_member(g, a);
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::ok, json::object{{"group", g}, {"removed", a}});
  });
}

Dispatch ApiHandler::list_tokens(const RouteCall& c) const {
  auto q = checked_query(c.query, {"account", "all"});
  if (!q) return bad(q.error());
  std::string account = c.caller.name;
  bool all = false;
  for (const auto& [k, v] : *q) {
    if (k == "account" && !v.empty()) account = v;
    if (k == "all") {
      if (v != "true" && v != "false") return bad("'all' must be true or false");
      all = v == "true";
    }
  }
  if ((all || account != c.caller.name) && !c.caller.may(Permission::ManageAccounts))
    return answer(error_response(http::status::forbidden,
                                 "'" + c.caller.name + "' may list only its own tokens (other accounts need manage_accounts)"));
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, account = all ? std::string() : account] {
    auto ts = svc->store().list_tokens(account);
    if (!ts) return storage_error(ts.error());
    json::array a;
    for (const auto& t : *ts) a.emplace_back(token_json(t, svc->now()));
    return json_response(http::status::ok, json::object{{"count", a.size()}, {"tokens", std::move(a)}});
  });
}

Dispatch ApiHandler::create_token(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  auto o = body_object(c.req, {"label", "ttl", "account"}, true);
  if (!o) return bad(o.error());
  auto label = opt_string(*o, "label");
  if (!label) return bad(label.error());
  if (*label && (**label).size() > 200) return bad("'label' is longer than 200 bytes");
  auto ttl = parse_ttl(*o, kDefaultApiTokenTtlNs);
  if (!ttl) return bad(ttl.error());
  auto account = opt_string(*o, "account");
  if (!account) return bad(account.error());
  std::string for_account = account->value_or(c.caller.name);
  if (for_account != c.caller.name && !c.caller.may(Permission::ManageAccounts))
    return answer(error_response(http::status::forbidden,
                                 "'" + c.caller.name + "' may create tokens only for itself (others need manage_accounts)"));
  if (!valid_name(for_account)) return bad(name_rule("'account'"));
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, for_account, label = label->value_or(""), ttl = *ttl] {
    auto a = svc->store().find_account(for_account);
    if (!a) return storage_error(a.error());
    if (!*a)
      return error_response(http::status::not_found,
                            "no account '" + for_account + "' (the bootstrap admin has no account: name one with 'account')");
    auto t = svc->issue_token(for_account, label, "api", ttl);
    if (!t) return storage_error(t.error());
    auto o = token_json(t->second, svc->now());
    o["token"] = t->first;
    return json_response(http::status::created, o);
  });
}

Dispatch ApiHandler::revoke_token(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad(q.error());
  if (!auth_service_) return no_auth();
  return job([svc = auth_service_, id = c.params[0], caller = c.caller.name,
              manage = c.caller.may(Permission::ManageAccounts)] {
    auto t = svc->store().find_token_by_id(id);
    if (!t) return storage_error(t.error());
    // Someone else's token is "not found" to a caller who may not manage accounts.
    if (!*t || ((*t)->account != caller && !manage)) return error_response(http::status::not_found, "no token '" + id + "'");
    auto w = svc->store().revoke_token(id, svc->now());
    if (!w) return storage_error(w.error());
    return write_response(*w, http::status::ok, json::object{{"revoked", id}});
  });
}

}  // namespace vigil::collector
