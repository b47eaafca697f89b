// Investigator routes over all collected activity: GET /api/v1/activity (filters, keyset paging
// with signed cursors, optional total) and background exports (POST /api/v1/activity/exports,
// their progress and their file). Design: docs/INVESTIGATION.md.
//
// Population scope: every event and every counted index row passes caller.may_see_user(); names
// leave through caller.shown_user(). A `user` filter takes the name the caller sees (a pseudonym
// when names are hidden) and is resolved against the stored users the caller may see; a real
// name does not match while the caller sees pseudonyms, so guessing names reveals nothing.
#include <algorithm>
#include <cctype>

#include "collector/activity/activity_cursor.h"
#include "collector/activity/activity_exports.h"
#include "collector/activity/activity_rows.h"
#include "collector/api/api_handler.h"
#include "collector/api/api_people.h"  // auth: hide_names_in
#include "shared/crypto.h"
#include "shared/file_util.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::size_t kDefaultActivityLimit = 100;
constexpr std::size_t kMaxActivityLimit = 1000;
constexpr std::size_t kMaxFilterText = 1024;

Dispatch now(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad_request(std::string_view message) { return now(error_response(http::status::bad_request, message)); }
Dispatch unavailable() {
  return now(error_response(http::status::service_unavailable, "this collector serves no activity queries"));
}

// The filters as given (the cursor is bound to these, not to times resolved against "now", so a
// relative "since=30d" keeps working from page to page).
struct Filters {
  std::vector<std::pair<std::string, std::string>> given;  // name, value; sorted by name
  ActivityQuery query;
  std::optional<std::string> user;

  std::string text() const {
    std::string t;
    for (const auto& [n, v] : given) t += (t.empty() ? "" : " ") + n + "=" + v;
    return t.empty() ? "(all activity)" : t;
  }
  std::string binding(const Caller& caller) const {
    std::string b = caller.name;
    for (const auto& [n, v] : given) b += std::string(1, '\0') + n + "=" + v;
    return crypto::sha256_hex(b);
  }
};

bool is_filter(std::string_view name) {
  for (auto f : {"user", "device", "type", "channel", "path", "classification", "since", "until"})
    if (name == f) return true;
  return false;
}

bool all_of(std::string_view s, bool (*ok)(char)) { return !s.empty() && std::all_of(s.begin(), s.end(), ok); }

// One filter into the query; an error names the parameter and says what it accepts.
Status apply_filter(Filters& f, const std::string& name, const std::string& value, std::int64_t now_time) {
  if (value.size() > kMaxFilterText)
    return err("'" + name + "' is longer than " + std::to_string(kMaxFilterText) + " bytes");
  ActivityQuery& q = f.query;
  if (name == "user") {
    f.user = value;
  } else if (name == "device") {
    q.device_id = value;
  } else if (name == "type") {
    if (!all_of(value, [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }) ||
        value.front() == '.')
      return err("'type' must be an event type (file.write) or a prefix ending in '.' (file.); got '" + value + "'");
    q.type = value;
  } else if (name == "channel") {
    if (std::find(std::begin(kActivityChannels), std::end(kActivityChannels), value) == std::end(kActivityChannels)) {
      std::string list;
      for (auto c : kActivityChannels) list += (list.empty() ? "" : ", ") + std::string(c);
      return err("'channel' must be one of " + list + "; got '" + value + "'");
    }
    q.channel = value;
  } else if (name == "path") {
    q.path_glob = value;
  } else if (name == "classification") {
    if (!all_of(value, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }))
      return err("'classification' must be a sensitive info type (credit_card, us_ssn, a rule id) or 'any'; got '" +
                 value + "'");
    q.classification = value;
  } else {
    auto t = parse_time_param(name, value, now_time);
    if (!t) return err(t.error());
    (name == "since" ? q.since_ns : q.until_ns) = *t;
  }
  f.given.emplace_back(name, value);
  return {};
}

Status check_range(const ActivityQuery& q) { return check_time_range(q.since_ns, q.until_ns); }

// Storage side: the user filter to real names the caller may see, and population scope.
// An export (export_activity) shows what a query (investigate_activity) shows, so a user must be
// in the population of both; for a query the two are the same check.
Status resolve_users(EventStore& store, const Caller& caller, Filters& f) {
  f.query.user_allowed = [caller](const std::string& u) {
    return caller.may_see_user(u) && caller.may_see_user(u, Permission::InvestigateActivity);
  };
  if (!f.user) return {};
  f.query.users_given = true;
  auto users = store.activity_users();
  if (!users) return err(users.error());
  // Resolved once, up front, through the caller's pseudonym cache; the query then uses the user
  // index like a filter by a real name.
  for (auto& real : caller.users_named(*f.user, *users))
    if (f.query.user_allowed(real)) f.query.users.push_back(std::move(real));
  return {};
}

ShowUser shower(const Caller& caller) {
  return [caller](const std::string& u) { return caller.shown_user(u); };
}

bool parse_bool(const std::string& v, bool& out) {
  if (v == "true" || v == "1") return out = true, true;
  if (v == "false" || v == "0") return out = false, true;
  return false;
}

json::object export_json(const ExportStatus& s) {
  json::object o;
  o["name"] = s.name;
  o["format"] = s.format;
  o["state"] = s.state;
  o["filters"] = s.filters;
  o["rows_done"] = s.rows_done;
  o["rows_total"] = s.rows_total;
  o["bytes"] = s.bytes;
  o["created"] = format_rfc3339(s.created_ns, 3);
  o["finished"] = s.finished_ns ? json::value(format_rfc3339(s.finished_ns, 3)) : json::value(nullptr);
  if (!s.error.empty()) o["error"] = s.error;
  o["content"] = "/api/v1/activity/exports/" + s.name + "/content";
  return o;
}

}  // namespace

void ApiHandler::set_activity(const ActivityCursors* cursors, ActivityExports* exports) {
  activity_cursors_ = cursors;
  activity_exports_ = exports;
}

Dispatch ApiHandler::activity_query(const RouteCall& c) const {
  auto params = checked_query(c.query, {"user", "device", "type", "channel", "path", "classification", "since", "until",
                                        "limit", "cursor", "count"});
  if (!params) return bad_request(params.error());
  if (!activity_cursors_) return unavailable();
  Filters f;
  f.query.limit = kDefaultActivityLimit;
  std::optional<std::string> cursor;
  const std::int64_t now_time = now_ns();
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;  // "not given", as HTML forms send it
    if (is_filter(name)) {
      if (auto st = apply_filter(f, name, value, now_time); !st) return bad_request(st.error());
    } else if (name == "limit") {
      bool digits = value.size() <= 6 && std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      const std::size_t n = digits ? std::stoul(value) : 0;
      if (n < 1 || n > kMaxActivityLimit)
        return bad_request("'limit' must be an integer from 1 to " + std::to_string(kMaxActivityLimit) + "; got '" + value + "'");
      f.query.limit = n;
    } else if (name == "count") {
      if (!parse_bool(value, f.query.count_total)) return bad_request("'count' must be true or false; got '" + value + "'");
    } else {
      cursor = value;
    }
  }
  if (auto st = check_range(f.query); !st) return bad_request(st.error());
  std::sort(f.given.begin(), f.given.end());
  const std::string binding = f.binding(c.caller);
  if (cursor) {
    auto pos = activity_cursors_->verify(*cursor, binding);
    if (!pos) return bad_request(pos.error());
    f.query.after = *pos;
  }
  return Dispatch{std::nullopt, [this, f = std::move(f), caller = c.caller, binding]() mutable {
                    if (auto st = resolve_users(store_, caller, f); !st)
                      return error_response(http::status::internal_server_error, "storage: " + st.error());
                    auto page = store_.query_activity(f.query);
                    if (!page) return error_response(http::status::internal_server_error, "storage: " + page.error());
                    const auto show = shower(caller);
                    json::array events;
                    events.reserve(page->events.size());
                    for (const auto& e : page->events) {
                      auto o = activity_event_json(e, show);
                      hide_names_in(o, caller, {e.event.user()});  // auth: names in paths and titles
                      events.emplace_back(std::move(o));
                    }
                    json::object o;
                    o["count"] = events.size();
                    o["events"] = std::move(events);
                    o["next_cursor"] = page->next ? json::value(activity_cursors_->sign(*page->next, binding)) : json::value(nullptr);
                    if (page->total) o["total"] = *page->total;
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::activity_export_start(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!activity_exports_) return unavailable();
  boost::system::error_code ec;
  json::value body = json::parse(c.req.body(), ec);
  if (ec) return bad_request("request body is not valid JSON: " + ec.message());
  if (!body.is_object())
    return bad_request("request body must be a JSON object like {\"format\": \"csv\", \"user\": \"...\", \"since\": \"30d\"}");
  Filters f;
  std::string format;
  const std::int64_t now_time = now_ns();
  for (const auto& [key, value] : body.as_object()) {
    const std::string name(key);
    if (name != "format" && !is_filter(name))
      return bad_request("unknown field '" + name +
                         "' in request body (accepted: format, user, device, type, channel, path, classification, since, until)");
    if (!value.is_string()) return bad_request("'" + name + "' must be a string");
    const std::string v(value.as_string());
    if (name == "format") {
      if (v != "csv" && v != "jsonl") return bad_request("'format' must be csv or jsonl; got '" + v + "'");
      format = v;
    } else if (!v.empty()) {
      if (auto st = apply_filter(f, name, v, now_time); !st) return bad_request(st.error());
    }
  }
  if (format.empty()) return bad_request("'format' is required (csv or jsonl)");
  if (auto st = check_range(f.query); !st) return bad_request(st.error());
  std::sort(f.given.begin(), f.given.end());
  return Dispatch{std::nullopt, [this, f = std::move(f), format, caller = c.caller]() mutable {
                    if (auto st = resolve_users(store_, caller, f); !st)
                      return error_response(http::status::internal_server_error, "storage: " + st.error());
                    const std::string filters = f.text();
                    auto started = activity_exports_->start(
                        std::move(f.query), format, caller.name, filters, shower(caller),
                        [caller](json::object& o, const std::string& user) { hide_names_in(o, caller, {user}); });
                    if (!started) {
                      const bool busy = started.error().find("running") != std::string::npos;
                      const bool big = started.error().find("narrow") != std::string::npos;
                      const auto status = busy ? http::status::too_many_requests
                                          : big ? http::status::bad_request
                                                : http::status::internal_server_error;
                      (void)audit(caller, "export", "activity", static_cast<int>(status), "refused: " + started.error());
                      return error_response(status, started.error());
                    }
                    if (auto st = audit(caller, "export", started->name, 202, format + " " + filters); !st)
                      return error_response(http::status::service_unavailable, "audit log unavailable: " + st.error());
                    auto r = json_response(http::status::accepted, export_json(*started));
                    r.set(http::field::location, "/api/v1/activity/exports/" + started->name);
                    return r;
                  }};
}

namespace {

// The export a caller may see: theirs, by a valid name. Anything else is "no such export", so
// names of other callers' exports are not confirmed.
Result<ExportStatus> find_export(const ActivityExports& exports, const std::string& name, const Caller& caller) {
  auto s = exports.status(name);
  if (!s || s->owner != caller.name) return err("no export '" + name + "'");
  return *s;
}

// What both export routes check before their storage job: no query, exports kept, a valid name.
std::optional<Dispatch> refuse_export_request(const RouteCall& c, const ActivityExports* exports) {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!exports) return unavailable();
  if (!ActivityExports::valid_name(c.params[0]))
    return bad_request("'" + valid_utf8(c.params[0]) + "' is not an export name (activity-<32 hex digits>.csv or .jsonl)");
  return std::nullopt;
}

}  // namespace

Dispatch ApiHandler::activity_export_status(const RouteCall& c) const {
  if (auto refused = refuse_export_request(c, activity_exports_)) return std::move(*refused);
  const std::string& name = c.params[0];
  return Dispatch{std::nullopt, [this, name, caller = c.caller] {
                    auto s = find_export(*activity_exports_, name, caller);
                    if (!s) return error_response(http::status::not_found, s.error());
                    return json_response(http::status::ok, export_json(*s));
                  }};
}

Dispatch ApiHandler::activity_export_content(const RouteCall& c) const {
  if (auto refused = refuse_export_request(c, activity_exports_)) return std::move(*refused);
  const std::string& name = c.params[0];
  return Dispatch{std::nullopt, [this, name, caller = c.caller] {
                    auto s = find_export(*activity_exports_, name, caller);
                    if (!s) return error_response(http::status::not_found, s.error());
                    if (s->state != "done")
                      return error_response(http::status::conflict, "export '" + name + "' is " + s->state +
                                                                        (s->error.empty() ? "" : ": " + s->error));
                    auto content = read_file(activity_exports_->path_of(name));
                    if (!content) return error_response(http::status::internal_server_error, "reading the export: " + content.error());
                    if (auto st = audit(caller, "export", name, 200, "downloaded " + std::to_string(content->size()) + " bytes"); !st)
                      return error_response(http::status::service_unavailable, "audit log unavailable: " + st.error());
                    HttpResponse r{http::status::ok, 11};
                    r.set(http::field::content_type, s->format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson");
                    r.set(http::field::content_disposition, "attachment; filename=\"" + name + "\"");
                    r.set(http::field::cache_control, "no-store");
                    r.body() = std::move(*content);
                    return r;
                  }};
}

}  // namespace vigil::collector
