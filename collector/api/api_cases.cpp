// Triage, cases and notices (docs/CASES.md): thin validation over cases::CaseService.
//
// Every request is checked whole before the service runs: unknown query parameters and body
// fields, wrong types and missing required fields are 400 naming them. Alerts and cases of
// users outside the caller's population are 404, as if they did not exist; users are shown as
// the caller may see them (pseudonyms). Escalation is also recorded as the named audit action
// "escalate" with the package's directory.
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/api/api_people.h"  // auth: hide_names_in
#include "collector/cases/case_json.h"
#include "collector/cases/case_service.h"
#include "collector/cases/notice_template.h"
#include "collector/policy/alert_json.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;
using cases::CaseService;
using cases::Failure;

namespace {

cases::ShowName shown_by(const Caller& caller) {
  return [caller](const std::string& u) { return caller.shown_user(u); };
}

// auth: free text (title, reasons, notes, paths) with real names replaced for pseudonymised callers.
json::object case_view(const cases::Case& k, const Caller& caller) {
  auto o = cases::case_to_json(k, shown_by(caller));
  hide_names_in(o, caller, {k.user});
  return o;
}
json::object note_view(const cases::Note& n, const Caller& caller, const std::string& user) {
  auto o = cases::note_to_json(n);
  hide_names_in(o, caller, {user});
  return o;
}
json::object file_view(const cases::CaseFile& f, const Caller& caller, const std::string& user) {
  auto o = cases::file_to_json(f);
  hide_names_in(o, caller, {user});
  return o;
}


Dispatch now(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad_request(std::string_view message) { return now(error_response(http::status::bad_request, message)); }
Dispatch no_cases() { return now(error_response(http::status::service_unavailable, "this collector runs no case service")); }

HttpResponse failure_response(const cases::CaseError& e) {
  switch (e.kind) {
    case Failure::NotFound: return error_response(http::status::not_found, e.message);
    case Failure::Conflict: return error_response(http::status::conflict, e.message);
    case Failure::BadInput: return error_response(http::status::bad_request, e.message);
    case Failure::Delivery: return error_response(http::status::bad_gateway, e.message);
    case Failure::Unavailable: return error_response(http::status::service_unavailable, e.message);
    case Failure::Storage: break;
  }
  return error_response(http::status::internal_server_error, "cases: " + e.message);
}

// A JSON body's fields by declared type; anything else is refused naming the field.
enum class Kind { String, StringList };
struct FieldSpec {
  std::string_view name;
  Kind kind;
  bool required;
};
struct Body {
  std::map<std::string, std::string> text;
  std::map<std::string, std::vector<std::string>> lists;
  std::string get(const std::string& k) const {
    auto it = text.find(k);
    return it == text.end() ? std::string() : it->second;
  }
};

Result<Body> parse_body(const HttpRequest& req, std::initializer_list<FieldSpec> spec) {
  std::string accepted;
  for (const auto& f : spec) accepted += (accepted.empty() ? "" : ", ") + std::string(f.name);
  std::string_view raw = req.body();
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == ' ')) raw.remove_suffix(1);
  json::value v = json::object{};
  if (!raw.empty()) {
    boost::system::error_code ec;
    v = json::parse(raw, ec);
    if (ec) return err("request body is not valid JSON: " + ec.message());
  }
  if (!v.is_object()) return err("request body must be a JSON object (fields: " + accepted + ")");
  Body out;
  for (const auto& [key, value] : v.as_object()) {
    const FieldSpec* f = nullptr;
    for (const auto& s : spec)
      if (s.name == key) f = &s;
    if (!f) return err("unknown field '" + std::string(key) + "' in request body (accepted: " + accepted + ")");
    if (f->kind == Kind::String) {
      if (!value.is_string()) return err("'" + std::string(key) + "' must be a string");
      out.text[std::string(key)] = std::string(value.as_string());
    } else {
      if (!value.is_array()) return err("'" + std::string(key) + "' must be an array of strings");
      auto& list = out.lists[std::string(key)];
      for (const auto& x : value.as_array()) {
        if (!x.is_string()) return err("'" + std::string(key) + "' must be an array of strings");
        list.emplace_back(x.as_string());
      }
    }
  }
  for (const auto& f : spec)
    if (f.required && !out.text.count(std::string(f.name)) && !out.lists.count(std::string(f.name)))
      return err("missing required field '" + std::string(f.name) + "'");
  return out;
}

bool has_control(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') return true;
  return false;
}

}  // namespace

void ApiHandler::set_case_service(cases::CaseService* service) { case_service_ = service; }

json::object ApiHandler::alert_view(const policy::Alert& a, bool with_activities, const Caller& caller,
                                    const std::map<std::string, cases::AlertTriage>* triage) const {
  json::object o = policy::alert_to_json(a, with_activities);
  o["user"] = caller.shown_user(a.user);
  hide_names_in(o, caller, {a.user});  // auth: trigger detail, explanations (summary, reasons)
  if (!triage) return o;
  auto it = triage->find(a.id);
  if (it == triage->end()) {
    o["case_id"] = nullptr;
    o["case_status"] = nullptr;
    o["triage"] = nullptr;
    return o;
  }
  const auto& r = it->second.record;
  o["case_id"] = r.case_n ? json::value("c-" + std::to_string(r.case_n)) : json::value(nullptr);
  o["case_status"] = it->second.case_status ? json::value(cases::to_string(*it->second.case_status)) : json::value(nullptr);
  o["triage"] = json::object{{"decision", cases::to_string(r.decision)},
                             {"reason", r.reason.empty() ? json::value(nullptr) : json::value(caller.shown_text(r.reason, {a.user}))},
                             {"by", r.by},
                             {"time", format_rfc3339(r.at_ns, 3)}};
  return o;
}

Dispatch ApiHandler::triage_alerts(const RouteCall& c, int action) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  cases::TriageRequest r;
  r.by = c.caller.name;
  if (action < 0) {
    auto body = parse_body(c.req, {{"action", Kind::String, true},
                                   {"alert_ids", Kind::StringList, true},
                                   {"reason", Kind::String, false},
                                   {"case_id", Kind::String, false},
                                   {"title", Kind::String, false}});
    if (!body) return bad_request(body.error());
    const std::string a = body->get("action");
    if (a == "dismiss") r.action = cases::TriageAction::Dismiss;
    else if (a == "confirm") r.action = cases::TriageAction::Confirm;
    else if (a == "attach") r.action = cases::TriageAction::Attach;
    else return bad_request("'action' must be dismiss, confirm or attach; got '" + a + "'");
    r.alert_ids = body->lists["alert_ids"];
    r.reason = body->get("reason");
    r.case_id = body->get("case_id");
    r.title = body->get("title");
  } else {
    r.action = static_cast<cases::TriageAction>(action);
    r.alert_ids = {c.params[0]};
    auto body = r.action == cases::TriageAction::Dismiss  ? parse_body(c.req, {{"reason", Kind::String, true}})
                : r.action == cases::TriageAction::Attach ? parse_body(c.req, {{"case_id", Kind::String, true}})
                                                          : parse_body(c.req, {{"title", Kind::String, false}});
    if (!body) return bad_request(body.error());
    r.reason = body->get("reason");
    r.case_id = body->get("case_id");
    r.title = body->get("title");
  }
  // Fields that belong to another action are refused, not ignored.
  if (r.action != cases::TriageAction::Dismiss && !r.reason.empty()) return bad_request("'reason' is only for dismiss");
  if (r.action != cases::TriageAction::Attach && !r.case_id.empty()) return bad_request("'case_id' is only for attach");
  if (r.action != cases::TriageAction::Confirm && !r.title.empty()) return bad_request("'title' is only for confirm");
  if (r.action == cases::TriageAction::Dismiss && r.reason.find_first_not_of(" \t\n") == std::string::npos)
    return bad_request("dismissing needs a non-empty 'reason'");
  if (r.action == cases::TriageAction::Attach && r.case_id.empty()) return bad_request("attaching needs a 'case_id'");
  if (r.reason.size() > cases::kMaxReason || has_control(r.reason)) return bad_request("'reason' must be up to 2000 characters of text");
  if (r.title.size() > cases::kMaxTitle || has_control(r.title)) return bad_request("'title' must be up to 200 characters of text");
  if (r.alert_ids.empty()) return bad_request("'alert_ids' must name at least one alert");
  if (r.alert_ids.size() > cases::kMaxBulkAlerts) return bad_request("at most 500 alerts per request");
  if (!engine_) return now(error_response(http::status::service_unavailable, "this collector runs no policy engine"));
  if (!case_service_) return no_cases();
  for (const auto& id : r.alert_ids) {
    auto a = engine_->alert(id);
    if (!a || !c.caller.may_see_user(a->user))
      return now(error_response(http::status::not_found, "no alert '" + id + "'; nothing was changed"));
  }
  return Dispatch{std::nullopt, [this, r, caller = c.caller]() {
                    auto out = case_service_->triage(r);
                    if (!out) return failure_response(out.failure());
                    auto triage = case_service_->triage_view();
                    json::object o;
                    json::array alerts;
                    for (const auto& id : out->alert_ids)
                      if (auto a = engine_->alert(id)) alerts.emplace_back(alert_view(*a, false, caller, triage ? &*triage : nullptr));
                    o["alerts"] = std::move(alerts);
                    o["case"] = out->kase ? json::value(case_view(*out->kase, caller))
                                          : json::value(nullptr);
                    return json_response(out->kase && r.action == cases::TriageAction::Confirm ? http::status::created
                                                                                                : http::status::ok,
                                         o);
                  }};
}

namespace {

// The case behind {id}, or the response that says why not (404 also outside the population).
template <typename Then>
HttpResponse with_case(CaseService& s, const std::string& id, const Caller& caller, Then&& then) {
  auto found = s.find_case(id);
  if (!found) return failure_response(found.failure());
  if (!caller.may_see_user(found->user)) return error_response(http::status::not_found, "no case '" + id + "'");
  return then(*found);
}



}  // namespace

Dispatch ApiHandler::list_cases(const RouteCall& c) const {
  auto params = checked_query(c.query, {"status", "user", "opened_since", "opened_until", "updated_since", "updated_until"});
  if (!params) return bad_request(params.error());
  if (!case_service_) return no_cases();
  cases::CaseFilter f;
  std::optional<std::string> user;
  const std::int64_t t_now = now_ns();
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    if (name == "status") {
      f.status = cases::case_status_from_string(value);
      if (!f.status) return bad_request("'status' must be active, escalated or resolved; got '" + value + "'");
    } else if (name == "user") {
      user = value;
    } else {
      auto t = parse_time_param(name, value, t_now);
      if (!t) return bad_request(t.error());
      (name == "opened_since"    ? f.opened_since
       : name == "opened_until"  ? f.opened_until
       : name == "updated_since" ? f.updated_since
                                 : f.updated_until) = *t;
    }
  }
  return Dispatch{std::nullopt, [this, f, user, caller = c.caller]() {
                    auto all = case_service_->cases(f);
                    if (!all) return error_response(http::status::internal_server_error, "cases: " + all.error());
                    json::array list;
                    for (const auto& k : *all) {
                      if (!caller.may_see_user(k.user)) continue;
                      if (user && !caller.user_filter_matches(k.user, *user)) continue;
                      list.emplace_back(case_view(k, caller));
                    }
                    json::object o;
                    o["count"] = list.size();
                    o["cases"] = std::move(list);
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::show_case(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      json::object o = case_view(k, caller);
                      auto triage = case_service_->triage_view();
                      json::array alerts;
                      for (const auto& a : case_service_->alerts_of(k))
                        alerts.emplace_back(alert_view(a, false, caller, triage ? &*triage : nullptr));
                      o["alerts"] = std::move(alerts);
                      auto notes = case_service_->notes(k);
                      if (!notes) return error_response(http::status::internal_server_error, "cases: " + notes.error());
                      json::array n;
                      for (const auto& x : *notes) n.emplace_back(note_view(x, caller, k.user));
                      o["notes"] = std::move(n);
                      auto sent = case_service_->notices(k);
                      if (!sent) return error_response(http::status::internal_server_error, "cases: " + sent.error());
                      const bool reveal = caller.shown_user(k.user) == k.user;
                      json::array m;
                      for (const auto& x : *sent) m.emplace_back(cases::notice_to_json(x, reveal));
                      o["notices"] = std::move(m);
                      return json_response(http::status::ok, o);
                    });
                  }};
}

Dispatch ApiHandler::case_activity(const RouteCall& c) const {
  auto params = checked_query(c.query, {"since", "until"});
  if (!params) return bad_request(params.error());
  if (!case_service_) return no_cases();
  std::optional<std::int64_t> since, until;
  const std::int64_t t_now = now_ns();
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    auto t = parse_time_param(name, value, t_now);
    if (!t) return bad_request(t.error());
    (name == "since" ? since : until) = *t;
  }
  if (since && until && *since >= *until) return bad_request("'since' must be before 'until'");
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, since, until]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      auto a = case_service_->activity(k, since, until);
                      if (!a) return error_response(http::status::bad_request, a.error());
                      json::object o = cases::activity_to_json(*a);
                      o["case_id"] = k.id();
                      o["user"] = caller.shown_user(k.user);
                      return json_response(http::status::ok, o);
                    });
                  }};
}

Dispatch ApiHandler::case_files(const RouteCall& c) const {
  auto params = checked_query(c.query, {"source", "type", "tag"});
  if (!params) return bad_request(params.error());
  if (!case_service_) return no_cases();
  cases::FileFilter f;
  for (const auto& [name, value] : *params) {
    if (value.empty()) continue;
    (name == "source" ? f.source : name == "type" ? f.type : f.tag) = value;
  }
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, f]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      auto files = case_service_->files(k, f);
                      if (!files) return error_response(http::status::internal_server_error, "cases: " + files.error());
                      json::array list;
                      for (const auto& x : *files) list.emplace_back(file_view(x, caller, k.user));
                      json::object o;
                      o["case_id"] = k.id();
                      o["count"] = list.size();
                      o["files"] = std::move(list);
                      return json_response(http::status::ok, o);
                    });
                  }};
}

Dispatch ApiHandler::case_notes(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      auto notes = case_service_->notes(k);
                      if (!notes) return error_response(http::status::internal_server_error, "cases: " + notes.error());
                      json::array list;
                      for (const auto& x : *notes) list.emplace_back(note_view(x, caller, k.user));
                      json::object o;
                      o["count"] = list.size();
                      o["notes"] = std::move(list);
                      return json_response(http::status::ok, o);
                    });
                  }};
}

Dispatch ApiHandler::add_case_note(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  auto body = parse_body(c.req, {{"text", Kind::String, true}});
  if (!body) return bad_request(body.error());
  const std::string text = body->get("text");
  if (text.find_first_not_of(" \t\n") == std::string::npos || text.size() > cases::kMaxNote)
    return bad_request("'text' must be 1 to 20000 characters and not blank");
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, text]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      auto n = case_service_->add_note(id, caller.name, text);
                      if (!n) return failure_response(n.failure());
                      return json_response(http::status::created, note_view(*n, caller, k.user));
                    });
                  }};
}

Dispatch ApiHandler::close_case(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  auto body = parse_body(c.req, {{"resolution", Kind::String, true}, {"reason", Kind::String, false}});
  if (!body) return bad_request(body.error());
  auto res = cases::resolution_from_string(body->get("resolution"));
  if (!res || *res == cases::Resolution::None)
    return bad_request("'resolution' must be benign or confirmed; got '" + body->get("resolution") + "'");
  const std::string reason = body->get("reason");
  if (reason.size() > cases::kMaxReason || has_control(reason)) return bad_request("'reason' must be up to 2000 characters of text");
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, res = *res, reason]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case&) {
                      auto k = case_service_->close(id, res, reason, caller.name);
                      if (!k) return failure_response(k.failure());
                      return json_response(http::status::ok, case_view(*k, caller));
                    });
                  }};
}

Dispatch ApiHandler::escalate_case(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  auto body = parse_body(c.req, {{"reason", Kind::String, false}});
  if (!body) return bad_request(body.error());
  const std::string reason = body->get("reason");
  if (reason.size() > cases::kMaxReason || has_control(reason)) return bad_request("'reason' must be up to 2000 characters of text");
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, reason]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case&) {
                      auto pkg = case_service_->escalate(id, reason, caller.name);
                      if (!pkg) {
                        auto r = failure_response(pkg.failure());
                        (void)audit(caller, "escalate", id, static_cast<int>(r.result_int()), pkg.error());
                        return r;
                      }
                      // The package holds real names and evidence: its creation is a named audit entry.
                      if (auto s = audit(caller, "escalate", id, 201, "package " + pkg->dir); !s)
                        return error_response(http::status::service_unavailable,
                                              "the case was escalated but the audit log could not record it: " + s.error());
                      json::object o;
                      o["case_id"] = id;
                      o["status"] = "escalated";
                      o["export"] = pkg->dir;
                      json::array files;
                      for (const auto& [name, sha] : pkg->files) files.emplace_back(json::object{{"name", name}, {"sha256", sha}});
                      o["files"] = std::move(files);
                      o["manifest"] = pkg->dir + "/manifest.json";
                      return json_response(http::status::created, o);
                    });
                  }};
}

Dispatch ApiHandler::send_case_notice(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  auto body = parse_body(c.req, {{"template", Kind::String, true}});
  if (!body) return bad_request(body.error());
  const std::string tmpl = body->get("template");
  if (tmpl.empty()) return bad_request("'template' must name a notice template (id t-1 or its name)");
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, id = c.params[0], caller = c.caller, tmpl]() {
                    return with_case(*case_service_, id, caller, [&](const cases::Case& k) {
                      auto m = case_service_->send_notice(id, tmpl, caller.name);
                      if (!m) return failure_response(m.failure());
                      return json_response(http::status::created, cases::notice_to_json(*m, caller.shown_user(k.user) == k.user));
                    });
                  }};
}

Dispatch ApiHandler::list_notice_templates(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this]() {
                    auto all = case_service_->templates();
                    if (!all) return error_response(http::status::internal_server_error, "cases: " + all.error());
                    json::array list;
                    for (const auto& t : *all) list.emplace_back(cases::template_to_json(t));
                    json::object o;
                    o["count"] = list.size();
                    o["templates"] = std::move(list);
                    json::array names;
                    for (auto p : cases::notice_placeholders()) names.emplace_back("{{" + std::string(p) + "}}");
                    o["placeholders"] = std::move(names);
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::add_notice_template(const RouteCall& c) const {
  if (auto q = checked_query(c.query, {}); !q) return bad_request(q.error());
  auto body = parse_body(c.req, {{"name", Kind::String, true}, {"subject", Kind::String, true}, {"body", Kind::String, true}});
  if (!body) return bad_request(body.error());
  if (auto st = cases::check_template(body->get("name"), body->get("subject"), body->get("body")); !st)
    return bad_request(st.error());
  if (!case_service_) return no_cases();
  return Dispatch{std::nullopt, [this, b = std::move(*body), caller = c.caller]() {
                    auto t = case_service_->add_template(b.get("name"), b.get("subject"), b.get("body"), caller.name);
                    if (!t) return failure_response(t.failure());
                    return json_response(http::status::created, cases::template_to_json(*t));
                  }};
}

}  // namespace vigil::collector
