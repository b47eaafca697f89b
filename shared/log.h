// Structured logging: one logfmt line per record on stderr (`ts=… level=… component=… msg=…
// key=value …`). Quiet by default: info and above; VIGIL_LOG=debug|info|warn|error changes it.
// Values are quoted and escaped, so hostile strings (paths, peer input) cannot forge records.
// Never pass secrets (keys, tokens) as fields.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace vigil::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

using Field = std::pair<std::string_view, std::string>;

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::Debug)) write(Level::Debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Info, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Warn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Error, c, m, f);
}

}  // namespace vigil::log
