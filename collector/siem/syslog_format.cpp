#include "collector/siem/syslog_format.h"

#include <boost/json.hpp>
#include <unistd.h>

#include <cmath>

#include "collector/api/event_json.h"
#include "collector/policy/alert_json.h"
#include "shared/time_util.h"

namespace vigil::collector::siem {

namespace {

constexpr int kFacilityLogAudit = 13;
// 32473 is the Private Enterprise Number RFC 5612 reserves for documentation and examples;
// a deployment with its own PEN can replace it (docs/SIEM.md).
constexpr std::string_view kSdId = "vigil@32473";

// RFC 5424 header fields: PRINTUSASCII (33..126), at most max characters, "-" when empty.
std::string header_field(const std::string& s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() == max) break;
    out.push_back(c >= 33 && c <= 126 ? c : '_');
  }
  return out.empty() ? "-" : out;
}

int alert_syslog_severity(policy::Severity s) {
  switch (s) {
    case policy::Severity::High: return 2;    // critical
    case policy::Severity::Medium: return 4;  // warning
    case policy::Severity::Low: return 5;     // notice
  }
  return 5;
}

int alert_cef_severity(policy::Severity s) {
  switch (s) {
    case policy::Severity::High: return 9;
    case policy::Severity::Medium: return 6;
    case policy::Severity::Low: return 3;
  }
  return 3;
}

std::string ms(std::int64_t ns) { return std::to_string(ns / 1'000'000); }

}  // namespace

std::string cef_escape_header(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '|') out.push_back('\\');
    if (c == '\n' || c == '\r') c = ' ';
    out.push_back(c);
  }
  return out;
}

std::string cef_escape_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '=') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

OutboxItem alert_item(const policy::Alert& a, SiemFormat format) {
  OutboxItem it;
  it.kind = "alert";
  it.severity = alert_syslog_severity(a.severity);
  it.time_ns = a.updated_ns;
  const bool raised = a.updated_ns == a.detected_ns;
  if (format == SiemFormat::Json) {
    auto o = policy::alert_to_json(a, false);
    o["type"] = "alert";
    o["change"] = raised ? "raised" : "updated";
    it.body = boost::json::serialize(o);
  } else {
    char score[32];
    std::snprintf(score, sizeof score, "%.2f", std::isfinite(a.score) ? a.score : 0.0);
    it.body = "CEF:0|Vigil|Vigil Collector|" + cef_escape_header(VIGIL_VERSION) + "|" + cef_escape_header(a.policy_id) + "|" +
              cef_escape_header("Insider risk alert (" + a.policy_id + ")") + "|" +
              std::to_string(alert_cef_severity(a.severity)) + "|" + "rt=" + ms(a.updated_ns) +
              " start=" + ms(a.detected_ns) + " suser=" + cef_escape_value(a.user) + " externalId=" + cef_escape_value(a.id) +
              " act=" + (raised ? "raised" : "updated") + " outcome=" + cef_escape_value(policy::to_string(a.status)) +
              " cn1Label=score cn1=" + score + " cs1Label=severity cs1=" + policy::to_string(a.severity) +
              " cs2Label=policy cs2=" + cef_escape_value(a.policy_id) + " cnt=" + std::to_string(a.activities.size());
  }
  return it;
}

OutboxItem event_item(const StoredEvent& e, SiemFormat format) {
  OutboxItem it;
  it.kind = "event";
  it.severity = 6;  // informational
  it.time_ns = static_cast<std::int64_t>(e.event.time_ns());
  auto o = event_to_json(e);
  if (format == SiemFormat::Json) {
    o["kind"] = "event";
    it.body = boost::json::serialize(o);
  } else {
    auto text = [&](std::string_view k) -> std::string {
      auto* v = o.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    it.body = "CEF:0|Vigil|Vigil Agent|" + cef_escape_header(VIGIL_VERSION) + "|" + cef_escape_header(text("type")) + "|" +
              cef_escape_header(text("type")) + "|1|rt=" + ms(it.time_ns) + " dvchost=" + cef_escape_value(e.device_id) +
              " suser=" + cef_escape_value(text("user")) + " cn1Label=seq cn1=" + std::to_string(e.event.seq());
    if (auto p = text("path"); !p.empty()) it.body += " filePath=" + cef_escape_value(p);
  }
  return it;
}

std::string syslog_message(const OutboxItem& item, const SyslogIdentity& id) {
  const int pri = kFacilityLogAudit * 8 + (item.severity & 7);
  return "<" + std::to_string(pri) + ">1 " + format_rfc3339(item.time_ns, 6) + " " + header_field(id.hostname, 255) + " " +
         header_field(id.app_name, 48) + " " + header_field(id.procid, 128) + " " + header_field(item.kind, 32) + " [" +
         std::string(kSdId) + " seq=\"" + std::to_string(item.seq) + "\" kind=\"" + header_field(item.kind, 32) + "\"] " +
         item.body;
}

std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "-";
  return buf;
}

std::string octet_frame(const std::string& message) { return std::to_string(message.size()) + " " + message; }

}  // namespace vigil::collector::siem
