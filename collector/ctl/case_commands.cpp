#include "collector/ctl/case_commands.h"

#include <iostream>
#include <memory>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"

namespace vigil::ctl {

namespace json = boost::json;

namespace {

struct CaseArgs {
  std::vector<std::string> ids;
  std::string id, reason, title, case_id, status, user, opened_since, updated_since, text, resolution, source, type,
      tag, since, until, name, subject, body_file, tmpl;
  bool json = false;
};

std::optional<json::object> request(const CtlFlags& flags, std::string_view method, const std::string& target,
                                    const json::object& body, int& code) {
  auto s = open_session(flags, code);
  if (!s) return std::nullopt;
  auto r = call(*s, method, target, method == "GET" ? std::string() : json::serialize(body), code);
  if (!r) return std::nullopt;
  return std::move(r->body);
}

std::string query_of(std::initializer_list<std::pair<const char*, const std::string*>> params) {
  std::string q;
  for (const auto& [name, value] : params)
    if (!value->empty()) q += (q.empty() ? "?" : "&") + std::string(name) + "=" + url_encode(*value);
  return q;
}

// Scores are doubles (JSON may print 7.5E1): one decimal for people.
std::string num1(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return field_text(o, key);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v->to_number<double>());
  return buf;
}

void print_lines(const json::object& o, std::string_view key) {
  if (auto* a = o.if_contains(key); a && a->is_array())
    for (const auto& x : a->as_array()) std::cout << json::serialize(x) << '\n';
  std::cout.flush();
}

std::vector<std::string> case_row(const json::object& c) {
  std::string alerts;
  if (auto* a = c.if_contains("alert_ids"); a && a->is_array())
    for (const auto& x : a->as_array()) alerts += (alerts.empty() ? "" : ",") + std::string(x.as_string());
  return {field_text(c, "id"), field_text(c, "status"), field_text(c, "resolution"), field_text(c, "user"),
          short_time(field_text(c, "opened")), short_time(field_text(c, "updated")), alerts, field_text(c, "title")};
}
const std::vector<std::string> kCaseHeaders{"ID", "STATUS", "RESOLUTION", "USER", "OPENED", "UPDATED", "ALERTS", "TITLE"};

int triage(const CtlFlags& flags, const CaseArgs& a, const std::string& action) {
  json::object body;
  body["action"] = action;
  json::array ids;
  for (const auto& id : a.ids) ids.emplace_back(id);
  body["alert_ids"] = std::move(ids);
  if (!a.reason.empty()) body["reason"] = a.reason;
  if (!a.title.empty()) body["title"] = a.title;
  if (!a.case_id.empty()) body["case_id"] = a.case_id;
  int code = kOk;
  auto r = request(flags, "POST", "/api/v1/alerts/triage", body, code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  const json::value* c = r->if_contains("case");
  if (action == "dismiss") std::cout << "Dismissed " << a.ids.size() << " alert(s).\n";
  else if (c && c->is_object())
    std::cout << (action == "confirm" ? "Opened case " : "Attached to case ") << field_text(c->as_object(), "id") << " ("
              << field_text(c->as_object(), "user") << "): " << field_text(c->as_object(), "title") << "\n";
  return kOk;
}

int cases_list(const CtlFlags& flags, const CaseArgs& a) {
  int code = kOk;
  auto r = request(flags, "GET",
                   "/api/v1/cases" + query_of({{"status", &a.status}, {"user", &a.user}, {"opened_since", &a.opened_since},
                                               {"updated_since", &a.updated_since}}),
                   {}, code);
  if (!r) return code;
  if (a.json) {
    print_lines(*r, "cases");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* list = r->if_contains("cases"); list && list->is_array())
    for (const auto& c : list->as_array())
      if (c.is_object()) rows.push_back(case_row(c.as_object()));
  if (rows.empty()) std::cout << "No cases match.\n";
  else print_table(std::cout, kCaseHeaders, rows);
  return kOk;
}

int cases_show(const CtlFlags& flags, const CaseArgs& a) {
  int code = kOk;
  auto r = request(flags, "GET", "/api/v1/cases/" + url_encode(a.id), {}, code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  const auto& c = *r;
  std::cout << "Case " << field_text(c, "id") << ": " << field_text(c, "title") << "\n"
            << "  user:     " << field_text(c, "user") << "\n"
            << "  status:   " << field_text(c, "status") << " " << field_text(c, "resolution") << "\n"
            << "  opened:   " << short_time(field_text(c, "opened")) << " by " << field_text(c, "opened_by") << "\n"
            << "  updated:  " << short_time(field_text(c, "updated")) << "\n";
  if (!field_text(c, "export").empty()) std::cout << "  export:   " << field_text(c, "export") << "\n";
  std::cout << "\nAlerts:\n";
  if (auto* al = c.if_contains("alerts"); al && al->is_array())
    for (const auto& x : al->as_array())
      std::cout << "  " << field_text(x.as_object(), "id") << "  " << field_text(x.as_object(), "severity") << "  "
                << field_text(x.as_object(), "status") << "  score " << num1(x.as_object(), "score") << "\n";
  std::cout << "\nNotes:\n";
  if (auto* n = c.if_contains("notes"); n && n->is_array())
    for (const auto& x : n->as_array())
      std::cout << "  " << short_time(field_text(x.as_object(), "time")) << "  " << field_text(x.as_object(), "author") << ": "
                << field_text(x.as_object(), "text") << "\n";
  std::cout << "\nNotices:\n";
  if (auto* n = c.if_contains("notices"); n && n->is_array())
    for (const auto& x : n->as_array())
      std::cout << "  " << short_time(field_text(x.as_object(), "time")) << "  " << field_text(x.as_object(), "template") << "  "
                << (field_text(x.as_object(), "delivered") == "true" ? "delivered" : "FAILED: " + field_text(x.as_object(), "error"))
                << "\n";
  return kOk;
}

int case_post(const CtlFlags& flags, const CaseArgs& a, const std::string& what, const json::object& body) {
  int code = kOk;
  auto r = request(flags, "POST", "/api/v1/cases/" + url_encode(a.id) + "/" + what, body, code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  if (what == "notes") std::cout << "Note " << field_text(*r, "id") << " added to " << a.id << ".\n";
  else if (what == "close") std::cout << "Case " << a.id << " resolved (" << field_text(*r, "resolution") << ").\n";
  else if (what == "escalate") std::cout << "Case " << a.id << " escalated; package: " << field_text(*r, "export") << "\n";
  else if (what == "notices") std::cout << "Notice " << field_text(*r, "id") << " delivered.\n";
  return kOk;
}

int cases_files(const CtlFlags& flags, const CaseArgs& a) {
  int code = kOk;
  auto r = request(flags, "GET",
                   "/api/v1/cases/" + url_encode(a.id) + "/files" +
                       query_of({{"source", &a.source}, {"type", &a.type}, {"tag", &a.tag}}),
                   {}, code);
  if (!r) return code;
  if (a.json) {
    print_lines(*r, "files");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* list = r->if_contains("files"); list && list->is_array())
    for (const auto& v : list->as_array()) {
      const auto& f = v.as_object();
      std::string tags;
      if (auto* t = f.if_contains("tags"); t && t->is_array())
        for (const auto& x : t->as_array()) tags += (tags.empty() ? "" : ",") + std::string(x.as_string());
      rows.push_back({short_time(field_text(f, "time")), field_text(f, "channel"), field_text(f, "content_type"),
                      field_text(f, "size"), field_text(f, "sha256").substr(0, 12), tags, field_text(f, "device_id"),
                      field_text(f, "path")});
    }
  if (rows.empty()) std::cout << "No files match.\n";
  else print_table(std::cout, {"TIME", "CHANNEL", "TYPE", "SIZE", "SHA256", "TAGS", "DEVICE", "PATH"}, rows);
  return kOk;
}

int cases_activity(const CtlFlags& flags, const CaseArgs& a) {
  int code = kOk;
  auto r = request(flags, "GET",
                   "/api/v1/cases/" + url_encode(a.id) + "/activity" + query_of({{"since", &a.since}, {"until", &a.until}}),
                   {}, code);
  if (!r) return code;
  if (a.json) {
    print_lines(*r, "days");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* list = r->if_contains("days"); list && list->is_array())
    for (const auto& v : list->as_array()) {
      const auto& d = v.as_object();
      const auto& s = d.at("by_severity").as_object();
      rows.push_back({field_text(d, "date"), field_text(d, "events"), field_text(d, "scored_activities"),
                      num1(d, "score"), field_text(s, "low"), field_text(s, "medium"), field_text(s, "high")});
    }
  print_table(std::cout, {"DATE", "EVENTS", "SCORED", "SCORE", "LOW", "MEDIUM", "HIGH"}, rows);
  return kOk;
}

int templates(const CtlFlags& flags, const CaseArgs& a) {
  int code = kOk;
  if (!a.name.empty()) {
    auto body_text = read_input(a.body_file, code);
    if (!body_text) return code;
    json::object body{{"name", a.name}, {"subject", a.subject}, {"body", *body_text}};
    auto r = request(flags, "POST", "/api/v1/notice-templates", body, code);
    if (!r) return code;
    if (a.json) std::cout << json::serialize(*r) << std::endl;
    else std::cout << "Template " << field_text(*r, "id") << " (" << field_text(*r, "name") << ") created.\n";
    return kOk;
  }
  auto r = request(flags, "GET", "/api/v1/notice-templates", {}, code);
  if (!r) return code;
  if (a.json) {
    print_lines(*r, "templates");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (auto* list = r->if_contains("templates"); list && list->is_array())
    for (const auto& v : list->as_array())
      rows.push_back({field_text(v.as_object(), "id"), field_text(v.as_object(), "name"), field_text(v.as_object(), "subject")});
  if (rows.empty()) std::cout << "No notice templates.\n";
  else print_table(std::cout, {"ID", "NAME", "SUBJECT"}, rows);
  return kOk;
}

}  // namespace

void add_case_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  auto a = std::make_shared<CaseArgs>();
  const CtlFlags* f = &flags;

  CLI::App* alerts = nullptr;
  try {
    alerts = app.get_subcommand("alerts");
  } catch (const CLI::OptionNotFound&) {
    alerts = app.add_subcommand("alerts", "alerts raised by insider-risk policies");
  }
  auto* dismiss = alerts->add_subcommand("dismiss", "dismiss alerts (not a risk), with the reason");
  dismiss->add_option("ids", a->ids, "alert ids (a-1 ...)")->required();
  dismiss->add_option("--reason", a->reason, "why the activity is not a risk")->required();
  dismiss->add_flag("--json", a->json, "print the answer as one JSON object");
  dismiss->callback([f, a, &result] { result = triage(*f, *a, "dismiss"); });
  auto* confirm = alerts->add_subcommand("confirm", "confirm alerts (one user's) into a new case");
  confirm->add_option("ids", a->ids, "alert ids")->required();
  confirm->add_option("--title", a->title, "the new case's title");
  confirm->add_flag("--json", a->json, "print the answer as one JSON object");
  confirm->callback([f, a, &result] { result = triage(*f, *a, "confirm"); });
  auto* attach = alerts->add_subcommand("attach", "attach alerts to an existing case of the same user");
  attach->add_option("ids", a->ids, "alert ids")->required();
  attach->add_option("--case", a->case_id, "the case (c-1)")->required();
  attach->add_flag("--json", a->json, "print the answer as one JSON object");
  attach->callback([f, a, &result] { result = triage(*f, *a, "attach"); });

  auto* cases = app.add_subcommand("cases", "cases: investigation of confirmed alerts");
  cases->require_subcommand(1);
  auto* list = cases->add_subcommand("list", "list cases, newest first");
  list->add_option("--status", a->status, "active | escalated | resolved");
  list->add_option("--user", a->user, "only this user (as you see the name)");
  list->add_option("--opened-since", a->opened_since, "opened from this time: RFC 3339 or a duration ago (7d)");
  list->add_option("--updated-since", a->updated_since, "last updated from this time");
  list->add_flag("--json", a->json, "one JSON object per line");
  list->callback([f, a, &result] { result = cases_list(*f, *a); });
  auto* show = cases->add_subcommand("show", "a case with its alerts, notes and notices");
  show->add_option("id", a->id, "the case (c-1)")->required();
  show->add_flag("--json", a->json, "print it as one JSON object");
  show->callback([f, a, &result] { result = cases_show(*f, *a); });
  auto* note = cases->add_subcommand("note", "add a note to a case");
  note->add_option("id", a->id, "the case")->required();
  note->add_option("--text", a->text, "the note")->required();
  note->add_flag("--json", a->json, "print the note as one JSON object");
  note->callback([f, a, &result] { result = case_post(*f, *a, "notes", json::object{{"text", a->text}}); });
  auto* close = cases->add_subcommand("close", "resolve a case as benign or confirmed");
  close->add_option("id", a->id, "the case")->required();
  close->add_option("--resolution", a->resolution, "benign | confirmed")->required();
  close->add_option("--reason", a->reason, "why");
  close->add_flag("--json", a->json, "print the case as one JSON object");
  close->callback([f, a, &result] {
    json::object b{{"resolution", a->resolution}};
    if (!a->reason.empty()) b["reason"] = a->reason;
    result = case_post(*f, *a, "close", b);
  });
  auto* esc = cases->add_subcommand("escalate", "escalate for legal review: writes an export package with a manifest");
  esc->add_option("id", a->id, "the case")->required();
  esc->add_option("--reason", a->reason, "why");
  esc->add_flag("--json", a->json, "print the answer as one JSON object");
  esc->callback([f, a, &result] {
    json::object b;
    if (!a->reason.empty()) b["reason"] = a->reason;
    result = case_post(*f, *a, "escalate", b);
  });
  auto* files = cases->add_subcommand("files", "content explorer: the files involved in a case");
  files->add_option("id", a->id, "the case")->required();
  files->add_option("--source", a->source, "a channel (removable, network_share, print, archive, local) or a device id");
  files->add_option("--type", a->type, "content or extension type (pdf, docx, zip, ...)");
  files->add_option("--tag", a->tag, "a sensitive type found (credit_card, ...), sensitive, extension_mismatch, bulk");
  files->add_flag("--json", a->json, "one JSON object per line");
  files->callback([f, a, &result] { result = cases_files(*f, *a); });
  auto* activity = cases->add_subcommand("activity", "the user's activity over time, per day, by risk");
  activity->add_option("id", a->id, "the case")->required();
  activity->add_option("--since", a->since, "from this time (default 14 days before the first activity)");
  activity->add_option("--until", a->until, "before this time");
  activity->add_flag("--json", a->json, "one JSON object per day");
  activity->callback([f, a, &result] { result = cases_activity(*f, *a); });

  auto* notices = app.add_subcommand("notices", "reminder notices to a case's user");
  notices->require_subcommand(1);
  auto* tpl = notices->add_subcommand("templates", "list notice templates, or create one with --name");
  tpl->add_option("--name", a->name, "create a template with this name");
  tpl->add_option("--subject", a->subject, "its subject (placeholders: {{user}} {{case_id}} {{case_title}} {{sender}} {{date}})");
  tpl->add_option("--body-file", a->body_file, "its body text ('-' reads stdin)");
  tpl->add_flag("--json", a->json, "one JSON object per line");
  tpl->callback([f, a, &result] {
    if (!a->name.empty() && (a->subject.empty() || a->body_file.empty())) {
      complain("creating a template needs --subject and --body-file");
      result = kUsage;
      return;
    }
    result = templates(*f, *a);
  });
  auto* send = notices->add_subcommand("send", "send a notice from a template to the user of a case");
  send->add_option("id", a->id, "the case")->required();
  send->add_option("--template", a->tmpl, "template id (t-1) or name")->required();
  send->add_flag("--json", a->json, "print the recorded notice as one JSON object");
  send->callback([f, a, &result] { result = case_post(*f, *a, "notices", json::object{{"template", a->tmpl}}); });
}

}  // namespace vigil::ctl
