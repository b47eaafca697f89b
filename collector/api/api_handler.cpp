#include "collector/api/api_handler.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "collector/api/api_people.h"  // auth: scoped_events, decorate_bootstrap_caller
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

Status check_time_range(std::optional<std::int64_t> since_ns, std::optional<std::int64_t> until_ns) {
  if (since_ns && until_ns && *since_ns >= *until_ns)
    return err("'since' (" + format_rfc3339(*since_ns, 3) + ") must be before 'until' (" + format_rfc3339(*until_ns, 3) +
               ")");
  return {};
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

void ApiHandler::set_authenticator(const Authenticator* authenticator) { authenticator_ = authenticator; }
void ApiHandler::set_audit_sink(AuditSink* sink) { audit_sink_ = sink; }

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
  if (!admin_token_sha256_.empty() && crypto::constant_time_equal(crypto::sha256_hex(token), admin_token_sha256_)) {
    caller.name = "admin";
    caller.permissions = all_permissions();
    if (auth_service_ != nullptr) decorate_bootstrap_caller(*auth_service_, caller);  // auth: privacy rules
    return std::nullopt;
  }
  if (authenticator_ != nullptr) {
    auto found = authenticator_->authenticate_token(token);
    if (!found) return error_response(http::status::unauthorized, found.error());
    std::string remote = std::move(caller.remote);
    caller = std::move(*found);
    caller.remote = std::move(remote);
    return std::nullopt;
  }
  return error_response(http::status::unauthorized, "invalid API token");
}

Status ApiHandler::audit(const Caller& caller, std::string_view action, std::string_view target, int status,
                         std::string_view detail) const {
  if (audit_sink_ == nullptr) return {};
  return audit_sink_->record(AuditEntry{caller.name, caller.remote, std::string(action), std::string(target), status,
                                        std::string(detail)});
}

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t at = 1;  // past the leading '/'
  while (at <= path.size()) {
    std::size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// How many literal segments of the pattern match, or -1 when it does not match the path.
int match(std::string_view pattern, const std::vector<std::string_view>& path, std::vector<std::string>* params) {
  auto pat = segments(pattern);
  if (pat.size() != path.size()) return -1;
  int literal = 0;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].size() > 2 && pat[i].front() == '{' && pat[i].back() == '}') {
      if (path[i].empty()) return -1;
      if (params) params->emplace_back(path[i]);
    } else if (pat[i] == path[i]) {
      ++literal;
    } else {
      return -1;
    }
  }
  return literal;
}

}  // namespace

Dispatch ApiHandler::audited(Dispatch d, const HttpRequest& req, const std::string& path, const Caller& caller) const {
  const bool changes = req.method() != http::verb::get && req.method() != http::verb::head;
  if (audit_sink_ == nullptr) return d;
  std::string action = std::string(to_sv(req.method_string())) + " " + path;
  if (d.response) {
    const int status = static_cast<int>(d.response->result_int());
    const bool refused = status == 401 || status == 403;
    if (changes || refused) {
      if (auto s = audit(caller, action, path, status); !s)
        return now(error_response(http::status::service_unavailable, "audit log unavailable: " + s.error()));
    }
    return d;
  }
  if (!changes) return d;
  // The change and its record: the record follows the outcome, so a failed change is recorded as
  // failed. An audit log that cannot record turns the answer into a 503 the client sees.
  return Dispatch{std::nullopt, [this, job = std::move(d.storage_job), caller, action, path]() {
                    HttpResponse r = job();
                    if (auto s = audit(caller, action, path, static_cast<int>(r.result_int())); !s)
                      return error_response(http::status::service_unavailable,
                                            "the change was made but the audit log could not record it: " + s.error());
                    return r;
                  }};
}

Dispatch ApiHandler::dispatch(const HttpRequest& req, std::string_view remote) const {
  auto [raw_path, query] = split_target(to_sv(req.target()));
  auto path = percent_decode(raw_path, false);
  if (!path) return bad_request("request path: " + path.error());
  if (path->rfind(kApiPrefix, 0) != 0 && *path != "/api/v1")
    return now(error_response(http::status::not_found, "no such endpoint: " + *path + " (the API lives under /api/v1/)"));
  const auto path_segments = segments(*path);

  // The most specific pattern that matches the path, and the route for this method on it.
  int best = -1;
  const Route* chosen = nullptr;
  for (const auto& r : routes()) {
    const int score = match(r.pattern, path_segments, nullptr);
    if (score < 0 || score < best) continue;
    if (score > best) chosen = nullptr;
    best = score;
    if (r.method == req.method()) chosen = &r;
  }

  Caller caller;
  caller.remote = std::string(remote);
  // Public routes (login) need no credentials; everything else authenticates before the path
  // is judged, so an unauthenticated caller learns nothing about which paths exist.
  if (chosen == nullptr || !chosen->is_public) {
    if (auto refused = authenticate(req, caller)) return audited(now(std::move(*refused)), req, *path, caller);
  }
  if (best < 0) return now(error_response(http::status::not_found, "no such endpoint: " + *path));
  if (chosen == nullptr) {
    std::string allow;
    for (const auto& r : routes())
      if (match(r.pattern, path_segments, nullptr) == best)
        allow += (allow.empty() ? "" : ", ") + std::string(to_sv(http::to_string(r.method)));
    auto r = error_response(http::status::method_not_allowed,
                            std::string(to_sv(req.method_string())) + " is not allowed on " + *path + " (allowed: " + allow + ")");
    r.set(http::field::allow, allow);
    return now(std::move(r));
  }
  if (!chosen->is_public && !caller.may(chosen->permission))
    return audited(now(error_response(http::status::forbidden,
                                      "'" + caller.name + "' may not use " + std::string(to_sv(req.method_string())) + " " +
                                          *path + " (needs permission " + std::string(permission_name(chosen->permission)) + ")")),
                   req, *path, caller);
  if (!chosen->is_public) caller.act_as(chosen->permission);  // auth: population scope per permission
  RouteCall call{req, *path, query, caller, {}};
  match(chosen->pattern, path_segments, &call.params);
  return audited(chosen->run(*this, call), req, *path, caller);
}

HttpResponse ApiHandler::handle(const HttpRequest& req, std::string_view remote) const {
  auto d = dispatch(req, remote);
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

Dispatch ApiHandler::events(const HttpRequest&, std::string_view query, const Caller& caller) const {
  auto params = checked_query(query, {"device", "user", "type", "since", "until", "path", "limit"});
  if (!params) return bad_request(params.error());
  EventQuery q;
  q.limit = kDefaultEventLimit;
  std::string user_filter;
  const std::int64_t now_time = now_ns();
  for (const auto& [name, value] : *params) {
    // An empty value means "not given", as HTML forms send it.
    if (value.empty()) continue;
    if (name == "device") q.device_id = value;
    else if (name == "user") user_filter = value;
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
  if (auto range = check_time_range(q.since_ns, q.until_ns); !range) return bad_request(range.error());
  // Population scope and pseudonymous user filters are applied to the events (auth helpers in
  // api_people.cpp); a plain query when neither is in play.
  return Dispatch{std::nullopt, [&store = store_, q, caller, user_filter] {
                    auto found = scoped_events(store, q, caller, user_filter);
                    if (!found) return error_response(http::status::internal_server_error, "storage: " + found.error());
                    json::array events;
                    events.reserve(found->size());
                    for (const auto& e : *found) {
                      auto o = event_to_json(e);
                      show_event_user(o, caller);
                      hide_names_in(o, caller, {e.event.user()});  // auth: names in free text and paths
                      events.emplace_back(std::move(o));
                    }
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
