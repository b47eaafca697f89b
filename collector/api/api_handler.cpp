#include "collector/api/api_handler.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "collector/api/event_json.h"
#include "collector/api/query_params.h"
#include "shared/crypto.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kApiPrefix = "/api/v1/";
constexpr std::int64_t kNsPerSecond = 1000000000;
constexpr std::int64_t kDefaultTokenTtlNs = 24 * 3600 * kNsPerSecond;
constexpr std::int64_t kMaxTokenTtlNs = 365 * 24 * 3600 * kNsPerSecond;

using RouteFn = Dispatch (ApiHandler::*)(const HttpRequest&, std::string_view) const;

// The admin token holds every permission. Roles (Analysts, Investigators, Viewer, Auditors)
// will map onto these names; the per-route check below stays where it is.
bool allowed(const Caller& caller, Permission) { return caller.name == "admin"; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view to_sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

Dispatch now(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad_request(std::string_view message) { return now(error_response(http::status::bad_request, message)); }

// Query parameters a route accepts; anything else is a 400 naming it, so a typo ("usr=") never
// silently widens a query.
Result<std::vector<std::pair<std::string, std::string>>> checked_query_impl(
    std::string_view query, std::initializer_list<std::string_view> accepted) {
  auto params = parse_query(query);
  if (!params) return err(params.error());
  std::vector<std::string> seen;
  for (const auto& [name, value] : *params) {
    if (std::find(accepted.begin(), accepted.end(), name) == accepted.end()) {
      std::string list;
      for (auto a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
      return err("unknown query parameter '" + name + "'" +
                 (list.empty() ? " (this endpoint takes none)" : " (accepted: " + list + ")"));
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return err("query parameter '" + name + "' given more than once");
    seen.push_back(name);
  }
  return std::move(*params);
}

// since/until: an RFC 3339 time, or a duration meaning "that long before now".
Result<std::int64_t> parse_time_param_impl(std::string_view name, const std::string& value, std::int64_t now) {
  if (auto t = parse_rfc3339(value)) return *t;
  if (auto d = parse_duration_ns(value)) return now - *d;
  return err("'" + std::string(name) + "' must be an RFC 3339 time (2026-01-31T12:00:00Z) or a duration "
             "meaning that long ago (90s, 15m, 1h, 7d); got '" + value + "'");
}

Result<std::size_t> parse_limit(const std::string& value) {
  bool digits = !value.empty() && value.size() <= 9 &&
                std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  std::size_t n = digits ? std::stoul(value) : 0;
  if (!digits || n < 1 || n > kMaxEventLimit)
    return err("'limit' must be an integer from 1 to " + std::to_string(kMaxEventLimit) + "; got '" + value + "'");
  return n;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> checked_query(std::string_view query,
                                                                       std::initializer_list<std::string_view> accepted) {
  return checked_query_impl(query, accepted);
}

Result<std::int64_t> parse_time_param(std::string_view name, const std::string& value, std::int64_t now) {
  return parse_time_param_impl(name, value, now);
}

HttpResponse json_response(http::status status, const json::value& body) {
  HttpResponse r{status, 11};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.body() = json::serialize(body);
  r.body().push_back('\n');
  return r;
}

HttpResponse error_response(http::status status, std::string_view message) {
  json::object o;
  o["error"] = message;
  auto r = json_response(status, o);
  if (status == http::status::unauthorized) r.set(http::field::www_authenticate, "Bearer realm=\"vigil\"");
  return r;
}

ApiHandler::ApiHandler(EventStore& store, std::string admin_token_sha256, CollectionConfigs* configs,
                       policy::SqlitePolicyStore* policies, const policy::PolicyEngine* engine)
    : store_(store),
      configs_(configs),
      policies_(policies),
      engine_(engine),
      admin_token_sha256_(std::move(admin_token_sha256)) {}

std::optional<HttpResponse> ApiHandler::authenticate(const HttpRequest& req, Caller& caller) const {
  auto it = req.find(http::field::authorization);
  if (it == req.end())
    return error_response(http::status::unauthorized, "missing 'Authorization: Bearer <token>' header");
  std::string_view value = trim(to_sv(it->value()));
  auto space = value.find(' ');
  if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer"))
    return error_response(http::status::unauthorized, "the Authorization header must use the Bearer scheme");
  std::string_view token = trim(value.substr(space + 1));
  if (token.empty()) return error_response(http::status::unauthorized, "empty bearer token");
  if (admin_token_sha256_.empty() ||
      !crypto::constant_time_equal(crypto::sha256_hex(token), admin_token_sha256_))
    return error_response(http::status::unauthorized, "invalid API token");
  caller.name = "admin";
  return std::nullopt;
}

Dispatch ApiHandler::dispatch(const HttpRequest& req) const {
  struct Route {
    http::verb method;
    std::string_view path;
    Permission permission;
    RouteFn fn;
  };
  static constexpr std::array<Route, 11> kRoutes{{
      {http::verb::get, "/api/v1/health", Permission::ReadHealth, &ApiHandler::health},
      {http::verb::get, "/api/v1/events", Permission::ReadEvents, &ApiHandler::events},
      {http::verb::get, "/api/v1/devices", Permission::ReadDevices, &ApiHandler::devices},
      {http::verb::post, "/api/v1/enroll-tokens", Permission::ManageEnrollment, &ApiHandler::create_enroll_token},
      {http::verb::get, "/api/v1/collection-config", Permission::ReadConfig, &ApiHandler::get_collection_config},
      {http::verb::put, "/api/v1/collection-config", Permission::ManageConfig, &ApiHandler::put_collection_config},
      {http::verb::delete_, "/api/v1/collection-config", Permission::ManageConfig, &ApiHandler::delete_collection_config},
      {http::verb::get, "/api/v1/alerts", Permission::ReadAlerts, &ApiHandler::list_alerts},
      {http::verb::get, "/api/v1/users/in-scope", Permission::ReadAlerts, &ApiHandler::users_in_scope},
      {http::verb::get, "/api/v1/analytics", Permission::ReadAnalytics, &ApiHandler::analytics},
      {http::verb::post, "/api/v1/recorded-activity", Permission::ImportActivity, &ApiHandler::import_recorded},
  }};

  auto [raw_path, query] = split_target(to_sv(req.target()));
  auto path = percent_decode(raw_path, false);
  if (!path) return bad_request("request path: " + path.error());
  if (path->rfind(kApiPrefix, 0) != 0 && *path != "/api/v1")
    return now(error_response(http::status::not_found, "no such endpoint: " + *path + " (the API lives under /api/v1/)"));

  Caller caller;
  if (auto refused = authenticate(req, caller)) return now(std::move(*refused));
  if (auto d = policy_routes(req, *path, query, caller)) return std::move(*d);

  // /api/v1/alerts/{id}: the one route with a path parameter.
  constexpr std::string_view kAlertPrefix = "/api/v1/alerts/";
  if (path->size() > kAlertPrefix.size() && path->rfind(kAlertPrefix, 0) == 0) {
    if (req.method() != http::verb::get) {
      auto r = error_response(http::status::method_not_allowed, std::string(to_sv(req.method_string())) + " is not allowed on " + *path + " (allowed: GET)");
      r.set(http::field::allow, "GET");
      return now(std::move(r));
    }
    if (!allowed(caller, Permission::ReadAlerts))
      return now(error_response(http::status::forbidden, "'" + caller.name + "' may not use " + *path));
    return show_alert(path->substr(kAlertPrefix.size()), query);
  }

  std::string allow;
  for (const auto& r : kRoutes) {
    if (r.path != *path) continue;
    if (r.method != req.method()) {
      allow += (allow.empty() ? "" : ", ") + std::string(to_sv(http::to_string(r.method)));
      continue;
    }
    if (!allowed(caller, r.permission))
      return now(error_response(http::status::forbidden, "'" + caller.name + "' may not use " + *path));
    return (this->*r.fn)(req, query);
  }
  if (!allow.empty()) {
    auto r = error_response(http::status::method_not_allowed,
                            std::string(to_sv(req.method_string())) + " is not allowed on " + *path + " (allowed: " + allow + ")");
    r.set(http::field::allow, allow);
    return now(std::move(r));
  }
  return now(error_response(http::status::not_found, "no such endpoint: " + *path));
}

HttpResponse ApiHandler::handle(const HttpRequest& req) const {
  auto d = dispatch(req);
  if (d.response) return std::move(*d.response);
  return d.storage_job();
}

Dispatch ApiHandler::health(const HttpRequest&, std::string_view query) const {
  if (auto q = checked_query(query, {}); !q) return bad_request(q.error());
  json::object o;
  o["status"] = "ok";
  o["version"] = VIGIL_VERSION;
  return now(json_response(http::status::ok, o));
}

Dispatch ApiHandler::events(const HttpRequest&, std::string_view query) const {
  auto params = checked_query(query, {"device", "user", "type", "since", "until", "path", "limit"});
  if (!params) return bad_request(params.error());
  EventQuery q;
  q.limit = kDefaultEventLimit;
  const std::int64_t now_time = now_ns();
  for (const auto& [name, value] : *params) {
    // An empty value means "not given", as HTML forms send it.
    if (value.empty()) continue;
    if (name == "device") q.device_id = value;
    else if (name == "user") q.user = value;
    else if (name == "type") q.type = value;
    else if (name == "path") q.path_glob = value;
    else if (name == "limit") {
      auto n = parse_limit(value);
      if (!n) return bad_request(n.error());
      q.limit = *n;
    } else {
      auto t = parse_time_param(name, value, now_time);
      if (!t) return bad_request(t.error());
      (name == "since" ? q.since_ns : q.until_ns) = *t;
    }
  }
  if (q.since_ns && q.until_ns && *q.since_ns >= *q.until_ns)
    return bad_request("'since' (" + format_rfc3339(*q.since_ns, 3) + ") must be before 'until' (" +
                       format_rfc3339(*q.until_ns, 3) + ")");
  return Dispatch{std::nullopt, [&store = store_, q] {
                    auto found = store.query_events(q);
                    if (!found) return error_response(http::status::internal_server_error, "storage: " + found.error());
                    json::array events;
                    events.reserve(found->size());
                    for (const auto& e : *found) events.emplace_back(event_to_json(e));
                    json::object o;
                    o["count"] = events.size();
                    o["events"] = std::move(events);
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::devices(const HttpRequest&, std::string_view query) const {
  if (auto q = checked_query(query, {}); !q) return bad_request(q.error());
  return Dispatch{std::nullopt, [&store = store_, configs = configs_] {
                    auto found = store.list_devices();
                    if (!found) return error_response(http::status::internal_server_error, "storage: " + found.error());
                    std::map<std::string, DeviceConfigState> config_states;
                    if (configs) {
                      auto states = configs->device_states();
                      if (!states) return error_response(http::status::internal_server_error, "storage: " + states.error());
                      config_states = std::move(*states);
                    }
                    json::array devices;
                    devices.reserve(found->size());
                    for (const auto& d : *found) {
                      auto o = device_to_json(d);
                      auto it = config_states.find(d.device_id);
                      add_config_state(o, it == config_states.end() ? nullptr : &it->second);
                      devices.emplace_back(std::move(o));
                    }
                    json::object o;
                    o["devices"] = std::move(devices);
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::create_enroll_token(const HttpRequest& req, std::string_view query) const {
  if (auto q = checked_query(query, {}); !q) return bad_request(q.error());
  std::int64_t uses = 1;
  std::int64_t ttl_ns = kDefaultTokenTtlNs;
  std::string_view body = trim(req.body());
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  if (!body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return bad_request("request body is not valid JSON: " + ec.message());
    if (!v.is_object()) return bad_request("request body must be a JSON object like {\"uses\": 1, \"ttl\": \"24h\"}");
    for (const auto& [key, value] : v.as_object()) {
      if (key == "uses") {
        if (value.is_int64()) uses = value.as_int64();
        else if (value.is_uint64()) uses = kMaxEnrollTokenUses + 1;  // far out of range either way
        else return bad_request("'uses' must be an integer");
        if (uses < 1 || uses > kMaxEnrollTokenUses)
          return bad_request("'uses' must be from 1 to " + std::to_string(kMaxEnrollTokenUses));
      } else if (key == "ttl") {
        if (!value.is_string()) return bad_request("'ttl' must be a duration string such as \"24h\" or \"7d\"");
        auto d = parse_duration_ns(std::string_view(value.as_string()));
        if (!d) return bad_request("'ttl': " + d.error());
        if (*d <= 0 || *d > kMaxTokenTtlNs) return bad_request("'ttl' must be more than 0 and at most 365d");
        ttl_ns = *d;
      } else {
        return bad_request("unknown field '" + std::string(key) + "' in request body (accepted: uses, ttl)");
      }
    }
  }
  return Dispatch{std::nullopt, [&store = store_, uses, ttl_ns] {
                    const std::string token = crypto::random_token(24);
                    const std::int64_t expires = now_ns() + ttl_ns;
                    auto s = store.add_enroll_token(crypto::sha256_hex(token), expires, static_cast<std::uint32_t>(uses));
                    if (!s) return error_response(http::status::internal_server_error, "storage: " + s.error());
                    json::object o;
                    o["token"] = token;
                    o["expires"] = format_rfc3339(expires, 0);
                    o["uses"] = uses;
                    return json_response(http::status::created, o);
                  }};
}

}  // namespace vigil::collector
