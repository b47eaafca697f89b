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

std::string event_summary(const json::object& e) {
  const std::string type = field_text(e, "type");
  const std::string path = field_text(e, "path");
  if (!path.empty()) {
    const std::string old_path = field_text(e, "old_path");
    return old_path.empty() ? path : old_path + " -> " + path;
  }
  if (type == "agent.loss")
    return "lost " + field_text(e, "events") + " events (" + field_text(e, "reason") + ")";
  if (type == "agent.gap")
    return "agent not running " + short_time(field_text(e, "from")) + " .. " + short_time(field_text(e, "to")) +
           (field_text(e, "clean_shutdown") == "true" ? " (clean shutdown)" : "");
  if (type == "agent.health")
    return "spool " + field_text(e, "spool_bytes") + " B, dropped " + field_text(e, "dropped_events") + ", cpu " +
           field_text(e, "cpu_percent") + "%";
  return field_text(e, "exe");
}

}  // namespace vigil::ctl
