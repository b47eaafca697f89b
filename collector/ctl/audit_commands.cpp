#include "collector/ctl/audit_commands.h"

#include <iostream>
#include <memory>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"

namespace vigil::ctl {

namespace json = boost::json;

namespace {

struct AuditArgs {
  std::string actor, action, target, since, until, before;
  std::uint32_t limit = 0;
  bool json = false;
};

int audit_list(const CtlFlags& flags, const AuditArgs& a) {
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query += (query.empty() ? "?" : "&") + std::string(name) + "=" + url_encode(value);
  };
  add("actor", a.actor);
  add("action", a.action);
  add("target", a.target);
  add("since", a.since);
  add("until", a.until);
  add("before", a.before);
  if (a.limit) add("limit", std::to_string(a.limit));
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/audit" + query, "", code);
  if (!r) return code;
  auto* records = r->body.if_contains("records");
  if (!records || !records->is_array()) {
    complain("unexpected answer: no 'records' list");
    return kFailure;
  }
  if (a.json) {
    for (const auto& x : records->as_array()) std::cout << json::serialize(x) << '\n';
    std::cout.flush();
    return kOk;
  }
  if (records->as_array().empty()) {
    std::cout << "No audit records match.\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : records->as_array()) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    std::string action = field_text(o, "action");
    if (auto n = field_text(o, "count"); n != "1") action += " (x" + n + ")";
    std::string detail = field_text(o, "detail");
    rows.push_back({field_text(o, "id"), short_time(field_text(o, "time")), field_text(o, "actor"), field_text(o, "remote"),
                    field_text(o, "status"), action + (detail.empty() ? "" : "  " + detail)});
  }
  print_table(std::cout, {"ID", "TIME", "ACTOR", "REMOTE", "STATUS", "ACTION"}, rows);
  if (auto* next = r->body.if_contains("next_before"); next && !next->is_null())
    std::cout << "More: vigilctl audit list --before " << field_text(r->body, "next_before") << "\n";
  return kOk;
}

int audit_verify(const CtlFlags& flags, bool as_json) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, "GET", "/api/v1/audit/verify", "", code);
  if (!r) return code;
  auto* ok = r->body.if_contains("ok");
  if (!ok || !ok->is_bool()) {
    complain("unexpected answer: no 'ok'");
    return kFailure;
  }
  if (as_json) {
    std::cout << json::serialize(r->body) << std::endl;
  } else if (ok->as_bool()) {
    std::cout << "Audit log intact: " << field_text(r->body, "records") << " records, chain and head verify.\n";
  } else {
    const auto* b = r->body.if_contains("first_broken");
    std::string id, reason;
    if (b && b->is_object()) {
      id = field_text(b->as_object(), "id");
      reason = field_text(b->as_object(), "reason");
    }
    std::cout << "Audit log BROKEN at record " << id << ": " << reason << "\n";
  }
  return ok->as_bool() ? kOk : kFailure;
}

}  // namespace

void add_audit_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  auto a = std::make_shared<AuditArgs>();
  auto* audit = app.add_subcommand("audit", "the collector's tamper-evident audit log (needs the read_audit permission)");
  audit->require_subcommand(1);
  auto* list = audit->add_subcommand("list", "audit records, newest first");
  list->add_option("--actor", a->actor, "only this account");
  list->add_option("--action", a->action, "actions starting with this (\"POST\", \"read_audit\")");
  list->add_option("--target", a->target, "targets starting with this (\"/api/v1/policies\")");
  list->add_option("--since", a->since, "RFC 3339 time or a duration ago (15m, 7d)");
  list->add_option("--until", a->until, "RFC 3339 time or a duration ago");
  list->add_option("--limit", a->limit, "at most this many (1-1000, default 100)");
  list->add_option("--before", a->before, "records older than this id (paging)");
  list->add_flag("--json", a->json, "one JSON object per line");
  list->callback([&flags, &result, a] { result = audit_list(flags, *a); });
  auto* verify = audit->add_subcommand("verify", "walk the chain; exit 1 and name the first broken record when it fails");
  verify->add_flag("--json", a->json, "print the report as one JSON object");
  verify->callback([&flags, &result, a] { result = audit_verify(flags, a->json); });
}

}  // namespace vigil::ctl
