#include "shared/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "shared/time_util.h"

namespace vigil::log {
namespace {

Level initial_level() {
  const char* v = std::getenv("VIGIL_LOG");
  if (!v) return Level::Info;
  std::string_view s(v);
  if (s == "debug") return Level::Debug;
  if (s == "warn") return Level::Warn;
  if (s == "error") return Level::Error;
  return Level::Info;
}

std::atomic<int>& current() {
  static std::atomic<int> level{static_cast<int>(initial_level())};
  return level;
}

const char* name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

void append_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) { plain = false; break; }
  if (plain) { out.append(v); return; }
  out.push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') { out.push_back('\\'); out.push_back(static_cast<char>(c)); }
    else if (c == '\n') out.append("\\n");
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    } else out.push_back(static_cast<char>(c));
  }
  out.push_back('"');
}

}  // namespace

void set_level(Level l) { current().store(static_cast<int>(l)); }
Level level() { return static_cast<Level>(current().load()); }
bool enabled(Level l) { return static_cast<int>(l) >= current().load(); }

void write(Level l, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!enabled(l)) return;
  std::string line = "ts=" + format_rfc3339(now_ns(), 3) + " level=" + name(l) + " component=";
  append_value(line, component);
  line += " msg=";
  append_value(line, msg);
  for (const auto& [k, v] : fields) {
    line.push_back(' ');
    line.append(k);
    line.push_back('=');
    append_value(line, v);
  }
  line.push_back('\n');
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace vigil::log
