// Routes and helpers that return people, seen through the caller's population scope and names
// (docs/ROLES.md, "Privacy"): GET /api/v1/hr and /api/v1/users/attributes, and the event filter.
#include "collector/api/api_people.h"

#include <algorithm>
#include <set>

#include "collector/api/api_handler.h"
#include "collector/auth/auth_service.h"
#include "collector/policy/policy_json.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

void decorate_bootstrap_caller(const auth::AuthService& service, Caller& caller) { service.decorate_bootstrap(caller); }

Result<std::vector<StoredEvent>> scoped_events(EventStore& store, EventQuery q, const Caller& caller,
                                               const std::string& user_filter, bool* truncated) {
  if (truncated) *truncated = false;
  // A filter that is not a pseudonym can only match that real name: let the store filter by it
  // (and the check below still refuses it to a caller who is not shown real names).
  const bool pseudonym_filter = !user_filter.empty() && auth::Pseudonymizer::looks_like_pseudonym(user_filter);
  if (!user_filter.empty() && !pseudonym_filter) q.user = user_filter;
  // A pseudonym names a stored user: resolve it up front (the activity index lists every user
  // with stored events) and let the store's user index answer, instead of reading everyone's
  // events page by page. Two users with one pseudonym (a 48-bit collision) still take the scan.
  if (pseudonym_filter) {
    if (auto users = store.activity_users()) {
      auto named = caller.users_named(user_filter, *users);
      if (named.size() <= 1) {
        if (named.empty() || !caller.may_see_user(named[0])) return std::vector<StoredEvent>{};
        q.user = named[0];
        return store.query_events(q);
      }
    }
  }
  const bool plain = !caller.in_population && (user_filter.empty() || !caller.filter_match);
  if (plain) {
    if (!user_filter.empty()) q.user = user_filter;
    return store.query_events(q);
  }
  auto keep = [&](const StoredEvent& e) {
    const std::string& u = e.event.user();
    if (u.empty() ? static_cast<bool>(caller.in_population) : !caller.may_see_user(u)) return false;
    return user_filter.empty() || caller.user_filter_matches(u, user_filter);
  };
  const std::size_t want = q.limit;
  EventQuery page = q;
  page.limit = std::max<std::size_t>(want, 5000);
  std::vector<StoredEvent> out;
  std::set<std::pair<std::string, std::uint64_t>> seen;
  std::size_t scanned = 0;
  for (;;) {
    auto got = store.query_events(page);
    if (!got) return err(got.error());
    std::int64_t oldest = INT64_MAX;
    for (auto& e : *got) {
      oldest = std::min(oldest, e.event.time_ns());
      if (seen.emplace(e.device_id, e.event.seq()).second && keep(e)) out.push_back(std::move(e));
    }
    scanned += got->size();
    if (got->size() < page.limit || out.size() >= want) break;
    if (scanned >= kMaxScopedScan) {
      if (truncated) *truncated = true;
      break;
    }
    // Until is exclusive: +1 reads the oldest nanosecond again, so events sharing it are not
    // skipped (those already seen are dropped above).
    if (page.until_ns && *page.until_ns == oldest + 1) break;  // one nanosecond holds a whole page
    page.until_ns = oldest + 1;
  }
  std::sort(out.begin(), out.end(), [](const StoredEvent& a, const StoredEvent& b) {
    return a.event.time_ns() != b.event.time_ns() ? a.event.time_ns() < b.event.time_ns()
                                                  : a.device_id != b.device_id ? a.device_id < b.device_id
                                                                               : a.event.seq() < b.event.seq();
  });
  if (out.size() > want) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(want));
  return out;
}

void show_event_user(json::object& o, const Caller& caller) {
  auto* u = o.if_contains("user");
  if (!u || !u->is_string() || u->as_string().empty()) return;
  const std::string real(u->as_string());
  const std::string shown = caller.shown_user(real);
  *u = shown;
  if (shown == real) return;
  const std::string home = "/home/" + real + "/";
  for (auto key : {"path", "old_path", "source_path"}) {
    auto* p = o.if_contains(key);
    if (!p || !p->is_string()) continue;
    std::string s(p->as_string());
    if (s.rfind(home, 0) == 0 || s == "/home/" + real) {
      s = "/home/" + shown + s.substr(std::min(s.size(), home.size() - 1));
      *p = s;
    }
  }
}

namespace {

bool free_text_key(std::string_view k) {
  return std::find(std::begin(kFreeTextKeys), std::end(kFreeTextKeys), k) != std::end(kFreeTextKeys);
}

void hide_text(json::value& v, const Caller& caller, const std::vector<std::string>& also) {
  if (v.is_string()) v = caller.shown_text(v.as_string(), also);
  else if (v.is_array())
    for (auto& x : v.as_array())
      if (x.is_string()) x = caller.shown_text(x.as_string(), also);
}

}  // namespace

void hide_names_in(json::object& o, const Caller& caller, const std::vector<std::string>& also) {
  if (!caller.hide_names) return;
  for (auto& [k, v] : o) {
    if (free_text_key(k) && (v.is_string() || v.is_array())) {
      hide_text(v, caller, also);
      if (v.is_array()) continue;
    }
    if (v.is_object() || v.is_array()) hide_names_in(v, caller, also);
  }
}

void hide_names_in(json::value& v, const Caller& caller, const std::vector<std::string>& also) {
  if (!caller.hide_names) return;
  if (v.is_object()) hide_names_in(v.as_object(), caller, also);
  else if (v.is_array())
    for (auto& x : v.as_array())
      if (x.is_object() || x.is_array()) hide_names_in(x, caller, also);
}

Dispatch ApiHandler::people_listing(const RouteCall& c) const {
  auto bad = [](std::string_view m) { return Dispatch{error_response(http::status::bad_request, m), {}}; };
  auto q = checked_query(c.query, {"user"});
  if (!q) return bad(q.error());
  if (!policies_) return Dispatch{error_response(http::status::service_unavailable, "policies are not available"), {}};
  std::string user;
  for (const auto& [name, value] : *q) user = value;
  const bool hr = c.path == "/api/v1/hr";
  return Dispatch{std::nullopt, [store = policies_, user, hr, caller = c.caller] {
                    auto wanted = [&](const std::string& u) {
                      return caller.may_see_user(u) && (user.empty() || caller.user_filter_matches(u, user));
                    };
                    json::array a;
                    if (hr) {
                      for (const auto& r : store->hr_records()) {
                        if (!wanted(r.user)) continue;
                        auto o = policy::hr_record_to_json(r);
                        o["user"] = caller.shown_user(r.user);
                        hide_names_in(o, caller, {r.user});
                        a.emplace_back(std::move(o));
                      }
                      return json_response(http::status::ok, json::object{{"count", a.size()}, {"records", std::move(a)}});
                    }
                    for (const auto& r : store->user_attributes()) {
                      if (!wanted(r.user)) continue;
                      auto o = policy::attributes_to_json(r);
                      o["user"] = caller.shown_user(r.user);
                      if (!r.manager.empty()) o["manager"] = caller.shown_user(r.manager);
                      // An address names the person as well as the account does.
                      if (caller.hide_names && o.contains("email")) o["email"] = nullptr;
                      a.emplace_back(std::move(o));
                    }
                    return json_response(http::status::ok, json::object{{"count", a.size()}, {"users", std::move(a)}});
                  }};
}

}  // namespace vigil::collector
