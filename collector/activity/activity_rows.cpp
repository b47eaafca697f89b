#include "collector/activity/activity_rows.h"

#include "collector/api/event_json.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace json = boost::json;

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlongs, surrogates, > U+10FFFF refused).
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c == 0xED) n = 3, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

void sanitize(json::value& v) {
  if (v.is_string()) {
    auto& s = v.as_string();
    std::string_view view(s.data(), s.size());
    std::string fixed = valid_utf8(view);
    if (fixed != view) s = fixed;
  } else if (v.is_array()) {
    for (auto& x : v.as_array()) sanitize(x);
  } else if (v.is_object()) {
    for (auto& kv : v.as_object()) sanitize(kv.value());
  }
}

std::string findings_text(const v1::Event& e) {
  const google::protobuf::RepeatedPtrField<v1::Finding>* f = nullptr;
  if (e.has_file() && e.file().has_classification()) f = &e.file().classification().findings();
  else if (e.has_print() && e.print().has_classification()) f = &e.print().classification().findings();
  else if (e.has_bulk()) f = &e.bulk().findings();
  std::string out;
  if (f)
    for (const auto& x : *f) out += (out.empty() ? "" : ";") + x.type() + ":" + std::to_string(x.count());
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_len(s, i);
    if (n == 0) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const auto c = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

json::object activity_event_json(const StoredEvent& se, const ShowUser& shown) {
  json::object o = event_to_json(se);
  const std::string& user = se.event.user();
  o["user"] = shown ? shown(user) : user;
  // Names inside bodies are people too: the print job's owner as CUPS saw it.
  if (auto* ju = o.if_contains("job_user"); ju && ju->is_string() && shown)
    *ju = shown(std::string(ju->as_string()));
  o["channel"] = activity_channel(se.event);
  json::value v(std::move(o));
  sanitize(v);
  return std::move(v.as_object());
}

std::string csv_field(std::string_view raw, bool text_cell) {
  std::string s = valid_utf8(raw);
  if (text_cell && !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r'))
    s.insert(s.begin(), '\'');
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::string activity_csv_header() {
  return "time,device_id,seq,user,type,channel,path,old_path,source_path,size,sha256,findings,exe,pid,event\r\n";
}

std::string activity_csv_row(const StoredEvent& se, const json::object& o) {
  const auto& e = se.event;
  auto text = [&](std::string_view key) -> std::string {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string row;
  row += csv_field(format_rfc3339(e.time_ns()), false) + ",";
  row += csv_field(se.device_id) + ",";
  row += std::to_string(e.seq()) + ",";
  row += csv_field(text("user")) + ",";
  row += csv_field(e.type()) + ",";
  row += csv_field(activity_channel(e)) + ",";
  row += csv_field(text("path")) + ",";
  row += csv_field(text("old_path")) + ",";
  row += csv_field(text("source_path")) + ",";
  row += (e.has_file() ? std::to_string(e.file().size()) : std::string()) + ",";
  row += csv_field(text("sha256")) + ",";
  row += csv_field(findings_text(e)) + ",";
  row += csv_field(e.has_process() ? e.process().exe() : std::string()) + ",";
  row += (e.has_process() ? std::to_string(e.process().pid()) : std::string()) + ",";
  row += csv_field(json::serialize(o), false);
  row += "\r\n";
  return row;
}

}  // namespace vigil::collector
