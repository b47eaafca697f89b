#include "shared/time_util.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace vigil {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_rfc3339(std::int64_t t, int digits) {
  std::int64_t secs = t / 1000000000, frac = t % 1000000000;
  if (frac < 0) { frac += 1000000000; secs -= 1; }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (digits > 0) {
    char f[16];
    std::snprintf(f, sizeof f, "%09lld", static_cast<long long>(frac));
    out.push_back('.');
    out.append(f, static_cast<std::size_t>(digits > 9 ? 9 : digits));
  }
  out.push_back('Z');
  return out;
}

Result<std::int64_t> parse_rfc3339(std::string_view s) {
  int Y, M, D, h, m, sec, consumed = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &consumed) < 6)
    return err("'" + str + "' is not an RFC 3339 time (e.g. 2026-11-23T12:00:00Z)");
  std::int64_t frac_ns = 0;
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < str.size() && str[i] == '.') {
    ++i;
    std::int64_t scale = 100000000;
    while (i < str.size() && str[i] >= '0' && str[i] <= '9') {
      frac_ns += (str[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  std::int64_t offset = 0;
  if (i < str.size() && (str[i] == 'Z' || str[i] == 'z')) {
    ++i;
  } else if (i < str.size() && (str[i] == '+' || str[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(str.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return err("bad UTC offset in '" + str + "'");
    offset = (str[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return err("'" + str + "' lacks a time zone (Z or +hh:mm)");
  }
  if (i != str.size()) return err("trailing characters in time '" + str + "'");
  std::tm tm{};
  tm.tm_year = Y - 1900; tm.tm_mon = M - 1; tm.tm_mday = D;
  tm.tm_hour = h; tm.tm_min = m; tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset;
  return secs * 1000000000 + frac_ns;
}

Result<std::int64_t> parse_duration_ns(std::string_view s) {
  if (s.empty()) return err("empty duration");
  std::size_t i = 0;
  double v = 0;
  bool digits = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') { v = v * 10 + (s[i] - '0'); ++i; digits = true; }
  if (!digits) return err("'" + std::string(s) + "' is not a duration (e.g. 30s, 15m, 1h, 7d)");
  std::string_view unit = s.substr(i);
  double mult;
  if (unit.empty() || unit == "s") mult = 1e9;
  else if (unit == "ms") mult = 1e6;
  else if (unit == "m") mult = 60e9;
  else if (unit == "h") mult = 3600e9;
  else if (unit == "d") mult = 86400e9;
  else if (unit == "w") mult = 7 * 86400e9;
  else return err("unknown unit '" + std::string(unit) + "' in duration '" + std::string(s) + "' (use ms, s, m, h, d, w)");
  return static_cast<std::int64_t>(v * mult);
}

}  // namespace vigil
