#include "collector/cases/case_json.h"

#include <cmath>

#include "shared/time_util.h"

namespace vigil::collector::cases {

namespace json = boost::json;

namespace {

constexpr std::int64_t kNsPerDay = 86400LL * 1'000'000'000;

json::value when(std::int64_t t) { return t ? json::value(format_rfc3339(t, 3)) : json::value(nullptr); }
json::value text_or_null(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

}  // namespace

json::object case_to_json(const Case& c, const ShowName& shown) {
  json::object o;
  o["id"] = c.id();
  o["user"] = shown(c.user);
  o["title"] = c.title;
  o["status"] = to_string(c.status);
  o["resolution"] = c.resolution == Resolution::None ? json::value(nullptr) : json::value(to_string(c.resolution));
  o["resolution_reason"] = text_or_null(c.resolution_reason);
  o["opened"] = when(c.opened_ns);
  o["opened_by"] = c.opened_by;
  o["updated"] = when(c.updated_ns);
  o["closed"] = when(c.closed_ns);
  o["closed_by"] = text_or_null(c.closed_by);
  o["escalated"] = when(c.escalated_ns);
  o["escalated_by"] = text_or_null(c.escalated_by);
  o["export"] = text_or_null(c.export_dir);
  json::array alerts;
  for (const auto& a : c.alert_ids) alerts.emplace_back(a);
  o["alert_ids"] = std::move(alerts);
  return o;
}

json::object note_to_json(const Note& n) {
  return json::object{{"id", n.id()}, {"case_id", "c-" + std::to_string(n.case_n)}, {"author", n.author},
                      {"time", format_rfc3339(n.at_ns, 3)}, {"text", n.text}};
}

json::object template_to_json(const NoticeTemplate& t) {
  return json::object{{"id", t.id()},           {"name", t.name},
                      {"subject", t.subject},   {"body", t.body},
                      {"created_by", t.created_by}, {"created", format_rfc3339(t.created_ns, 3)}};
}

json::object notice_to_json(const Notice& m, bool reveal) {
  json::object o;
  o["id"] = m.id();
  o["case_id"] = "c-" + std::to_string(m.case_n);
  o["template"] = m.template_name;
  o["sender"] = m.sender;
  o["time"] = format_rfc3339(m.at_ns, 3);
  o["delivered"] = m.delivered;
  o["error"] = text_or_null(m.error);
  o["recipient"] = reveal ? text_or_null(m.recipient) : json::value(nullptr);
  o["subject"] = reveal ? json::value(m.subject) : json::value(nullptr);
  o["body"] = reveal ? json::value(m.body) : json::value(nullptr);
  if (!reveal) o["hidden"] = "the recipient and the filled-in text name the user; names are pseudonymised for you";
  return o;
}

json::object file_to_json(const CaseFile& f) {
  json::object o;
  o["alert_id"] = f.alert_id;
  o["device_id"] = f.device_id;
  o["seq"] = f.seq;
  o["event_type"] = f.event_type;
  o["time"] = format_rfc3339(f.time_ns, 3);
  o["channel"] = f.channel;
  o["path"] = f.path;
  o["source_path"] = text_or_null(f.source_path);
  o["sha256"] = text_or_null(f.sha256);
  o["size"] = f.size;
  o["files"] = f.files;
  o["content_type"] = text_or_null(f.content_type);
  o["extension_type"] = text_or_null(f.extension_type);
  o["volume"] = text_or_null(f.volume);
  json::array findings, tags;
  for (const auto& [type, count] : f.findings) findings.emplace_back(json::object{{"type", type}, {"count", count}});
  for (const auto& t : f.tags) tags.emplace_back(t);
  o["classification"] = std::move(findings);
  o["tags"] = std::move(tags);
  return o;
}

json::object activity_to_json(const ActivityOverTime& a) {
  json::object o;
  o["since"] = format_rfc3339(a.since_ns, 0);
  o["until"] = format_rfc3339(a.until_ns, 0);
  o["events_truncated"] = a.events_truncated;
  json::array days;
  for (const auto& d : a.days) {
    json::object b;
    b["date"] = format_rfc3339(static_cast<std::int64_t>(d.day) * kNsPerDay, 0).substr(0, 10);
    b["events"] = d.events;
    b["scored_activities"] = d.scored;
    b["score"] = std::round(d.score * 100) / 100;
    b["by_severity"] = json::object{{"low", d.low}, {"medium", d.medium}, {"high", d.high}};
    days.emplace_back(std::move(b));
  }
  o["days"] = std::move(days);
  return o;
}

}  // namespace vigil::collector::cases
