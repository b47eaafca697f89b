// Audit routes: the audit log, filtered and paged newest first, and its verification
// (docs/AUDIT.md). Both are sensitive reads and are themselves recorded in the log before the
// answer goes out; a log that cannot record them refuses to answer (503).
#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <string>
#include <vector>

#include "collector/api/api_handler.h"
#include "collector/audit/audit_log.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::size_t kDefaultAuditLimit = 100;
constexpr std::size_t kMaxAuditLimit = 1000;

Dispatch now(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad_request(std::string_view message) { return now(error_response(http::status::bad_request, message)); }
Dispatch no_log() { return now(error_response(http::status::service_unavailable, "this collector keeps no audit log")); }

Result<std::int64_t> parse_count(std::string_view name, const std::string& value, std::int64_t lo, std::int64_t hi) {
  bool digits = !value.empty() && value.size() <= 18 &&
                std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  std::int64_t n = digits ? std::stoll(value) : 0;
  if (!digits || n < lo || n > hi)
    return err("'" + std::string(name) + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
               "; got '" + value + "'");
  return n;
}

// Target and detail name monitored users (a reveal's target is one; filters and paths in the
// detail may hold more): an auditor who is shown pseudonyms reads pseudonyms here too. The
// actors are the accounts of the people working in Vigil, shown as they are. The hash is the
// stored record's, which `verify` checks on the server.
json::object record_to_json(const audit::AuditRecord& r, const Caller& caller) {
  const std::vector<std::string> also = r.action == "reveal_names" ? std::vector<std::string>{r.target} : std::vector<std::string>{};
  json::object o;
  o["id"] = r.id;
  o["time"] = format_rfc3339(r.time_ns, 3);
  o["actor"] = r.actor;
  o["remote"] = r.remote;
  o["action"] = r.action;
  o["target"] = caller.shown_text(r.target, also);
  o["status"] = r.status;
  o["detail"] = caller.shown_text(r.detail, also);
  o["count"] = r.count;
  o["hash"] = r.hash;
  return o;
}

}  // namespace

void ApiHandler::set_audit_log(audit::AuditLog* log) { audit_log_ = log; }

Dispatch ApiHandler::list_audit(const RouteCall& c) const {
  auto params = checked_query(c.query, {"actor", "action", "target", "since", "until", "limit", "before"});
  if (!params) return bad_request(params.error());
  if (!audit_log_) return no_log();
  audit::AuditQuery q;
  q.limit = kDefaultAuditLimit;
  const std::int64_t now_time = now_ns();
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    if (name == "actor") q.actor = value;
    else if (name == "action") q.action = value;
    else if (name == "target") q.target = value;
    else if (name == "limit") {
      auto n = parse_count(name, value, 1, kMaxAuditLimit);
      if (!n) return bad_request(n.error());
      q.limit = static_cast<std::size_t>(*n);
    } else if (name == "before") {
      auto n = parse_count(name, value, 1, std::numeric_limits<std::int64_t>::max() / 2);
      if (!n) return bad_request(n.error());
      q.before_id = *n;
    } else {
      auto t = parse_time_param(name, value, now_time);
      if (!t) return bad_request(t.error());
      (name == "since" ? q.since_ns : q.until_ns) = *t;
    }
  }
  if (auto range = check_time_range(q.since_ns, q.until_ns); !range) return bad_request(range.error());
  return Dispatch{std::nullopt, [this, log = audit_log_, q, caller = c.caller, query = std::string(c.query)] {
                    // Recorded before it is read: nobody reads the audit log unseen, and the
                    // answer shows its own read.
                    if (auto s = audit(caller, "read_audit", "/api/v1/audit", 200, query); !s)
                      return error_response(http::status::service_unavailable, "audit log unavailable: " + s.error());
                    auto page = log->list(q);
                    if (!page) return error_response(http::status::internal_server_error, "audit log: " + page.error());
                    json::array list;
                    for (const auto& r : page->records) list.emplace_back(record_to_json(r, caller));
                    json::object o;
                    o["count"] = list.size();
                    o["records"] = std::move(list);
                    o["next_before"] = page->next_before ? json::value(*page->next_before) : json::value(nullptr);
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::verify_audit(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!audit_log_) return no_log();
  return Dispatch{std::nullopt, [this, log = audit_log_, caller = c.caller] {
                    // Recorded first, so the verification also covers its own record.
                    if (auto s = audit(caller, "verify_audit", "/api/v1/audit/verify", 200); !s)
                      return error_response(http::status::service_unavailable, "audit log unavailable: " + s.error());
                    auto rep = log->verify();
                    if (!rep) return error_response(http::status::internal_server_error, "audit log: " + rep.error());
                    json::object o;
                    o["ok"] = rep->ok;
                    o["records"] = rep->records;
                    o["head_id"] = rep->head_id;
                    if (rep->ok) {
                      o["first_broken"] = nullptr;
                    } else {
                      json::object b;
                      b["id"] = rep->broken_id;
                      b["reason"] = rep->reason;
                      o["first_broken"] = std::move(b);
                    }
                    return json_response(http::status::ok, o);
                  }};
}

}  // namespace vigil::collector
