#include "collector/ctl/output.h"

#include <algorithm>
#include <ostream>

namespace vigil::ctl {

namespace json = boost::json;

void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(headers.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(headers);
  for (const auto& r : rows) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  };
  print(headers);
  for (const auto& r : rows) print(r);
}

std::string short_time(std::string_view t) {
  auto dot = t.find('.');
  if (dot == std::string_view::npos || t.empty() || t.back() != 'Z' || t.size() < dot + 5) return std::string(t);
  return std::string(t.substr(0, dot + 4)) + "Z";
}

std::string field_text(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return "";
  if (it->value().is_string()) return std::string(it->value().as_string());
  return json::serialize(it->value());
}

namespace {

std::string nested_text(const json::object& o, std::string_view outer, std::string_view key) {
  auto it = o.find(outer);
  if (it == o.end() || !it->value().is_object()) return "";
  return field_text(it->value().as_object(), key);
}

// "credit_card x3 (high), email x1 (medium)" from a classification or a findings array.
std::string findings_text(const json::value* findings) {
  if (!findings || !findings->is_array()) return "";
  std::string out;
  for (const auto& f : findings->as_array()) {
    if (!f.is_object()) continue;
    const auto& o = f.as_object();
    out += (out.empty() ? "" : ", ") + field_text(o, "type") + " x" + field_text(o, "count");
    if (auto c = field_text(o, "confidence"); !c.empty()) out += " (" + c + ")";
  }
  return out;
}

std::string with_findings(std::string text, const json::object& e) {
  const json::value* findings = nullptr;
  if (auto it = e.find("classification"); it != e.end() && it->value().is_object())
    findings = it->value().as_object().if_contains("findings");
  else
    findings = e.if_contains("findings");
  if (auto f = findings_text(findings); !f.empty()) text += " [" + f + "]";
  return text;
}

std::string file_summary(const json::object& e, const std::string& type, const std::string& path) {
  const std::string old_path = field_text(e, "old_path");
  std::string text = old_path.empty() ? path : old_path + " -> " + path;
  if (type.starts_with("exfil.")) {
    if (auto src = field_text(e, "source_path"); !src.empty()) text = src + " => " + text;
    if (auto label = nested_text(e, "volume", "label"); !label.empty()) text += " (volume " + label + ")";
  }
  if (type == "file.extension_mismatch")
    text += " (content " + field_text(e, "content_type") + ", name says " + field_text(e, "extension_type") + ")";
  else if (type == "file.archive_created")
    text += " (" + field_text(e, "content_type") + ")";
  return with_findings(std::move(text), e);
}

}  // namespace

std::string event_summary(const json::object& e) {
  const std::string type = field_text(e, "type");
  const std::string path = field_text(e, "path");
  if (!path.empty()) return file_summary(e, type, path);
  if (type == "agent.loss")
    return "lost " + field_text(e, "events") + " events (" + field_text(e, "reason") + ")";
  if (type == "agent.gap")
    return "agent not running " + short_time(field_text(e, "from")) + " .. " + short_time(field_text(e, "to")) +
           (field_text(e, "clean_shutdown") == "true" ? " (clean shutdown)" : "");
  if (type == "agent.health") {
    std::string text = "spool " + field_text(e, "spool_bytes") + " B, dropped " + field_text(e, "dropped_events") +
                       ", cpu " + field_text(e, "cpu_percent") + "%, config v" + field_text(e, "config_version");
    if (auto p = field_text(e, "pressure"); !p.empty()) text += ", pressure " + p + ", shedding " + field_text(e, "shedding");
    return text;
  }
  if (type.starts_with("device.")) {
    std::string text = field_text(e, "bus") + " " + field_text(e, "vendor_id") + ":" + field_text(e, "product_id");
    for (auto key : {"device_class", "product_name", "serial", "devnode"})
      if (auto v = field_text(e, key); !v.empty()) text += " " + v;
    return text;
  }
  if (type.starts_with("volume."))
    return field_text(e, "device") + " on " + field_text(e, "mount_point") + " (" + field_text(e, "fstype") +
           (field_text(e, "label").empty() ? "" : ", " + field_text(e, "label")) +
           (field_text(e, "removable") == "true" ? ", removable" : "") +
           (field_text(e, "network_share") == "true" ? ", network share" : "") + ")";
  if (type == "file.bulk")
    return with_findings(field_text(e, "operation") + ": " + field_text(e, "files") + " more files, " + field_text(e, "bytes") +
                             " B under " + field_text(e, "common_dir"),
                         e);
  if (type == "print.job") {
    std::string title = field_text(e, "title");
    return with_findings("\"" + (title.empty() ? std::string("(untitled)") : title) + "\" on " + field_text(e, "printer") + ", " +
                             field_text(e, "pages") + " pages x" + field_text(e, "copies") + ", " + field_text(e, "state"),
                         e);
  }
  if (type == "security.changed") {
    std::string text = field_text(e, "category") + " " + field_text(e, "item") + " " + field_text(e, "change");
    if (auto o = field_text(e, "old_value"), n = field_text(e, "new_value"); !o.empty() || !n.empty())
      text += ": " + o + " -> " + n;
    else if (auto a = field_text(e, "lines_added"), r = field_text(e, "lines_removed"); !a.empty())
      text += " (+" + a + " -" + r + ")";
    return text;
  }
  if (type == "agent.tamper") {
    std::string text = field_text(e, "what") + " " + field_text(e, "item");
    if (auto pid = field_text(e, "sender_pid"); !pid.empty() && pid != "0")
      text += " by pid " + pid + " " + field_text(e, "sender_exe");
    return text;
  }
  if (type.starts_with("session."))
    return field_text(e, "user") + " " + field_text(e, "kind") + " " + field_text(e, "tty") +
           (field_text(e, "remote_host").empty() ? "" : " from " + field_text(e, "remote_host"));
  return field_text(e, "exe");
}

}  // namespace vigil::ctl
