#include "agent/watchdog.h"

#include <uv.h>

namespace vigil::agent {

Watchdog::Watchdog(WatchdogLimits limits) : limits_(limits) {}

bool Watchdog::observe(const ResourceSample& s) {
  const bool had_cpu = have_prev_ && s.wall_ns > prev_.wall_ns;
  if (had_cpu) {
    const double wall = static_cast<double>(s.wall_ns - prev_.wall_ns) / 1e9;
    cpu_percent_ = 100.0 * (s.cpu_seconds - prev_.cpu_seconds) / wall;
    if (cpu_percent_ < 0) cpu_percent_ = 0;
  }
  prev_ = s;
  have_prev_ = true;
  rss_ = s.rss_bytes;

  const double cpu_limit = limits_.cpu_percent;
  const double rss_limit = static_cast<double>(limits_.rss_bytes);
  cpu_over_ = had_cpu && cpu_limit > 0 && cpu_percent_ > cpu_limit;
  mem_over_ = limits_.rss_bytes > 0 && static_cast<double>(rss_) > rss_limit;
  const bool cpu_calm = cpu_limit <= 0 || !had_cpu || cpu_percent_ < cpu_limit * limits_.recover_fraction;
  const bool mem_calm = limits_.rss_bytes == 0 || static_cast<double>(rss_) < rss_limit * limits_.recover_fraction;

  over_run_ = (cpu_over_ || mem_over_) ? over_run_ + 1 : 0;
  calm_run_ = (cpu_calm && mem_calm) ? calm_run_ + 1 : 0;
  if (!shedding_ && over_run_ >= limits_.trip_samples) {
    shedding_ = true;
    calm_run_ = 0;
    return true;
  }
  if (shedding_ && calm_run_ >= limits_.recover_samples) {
    shedding_ = false;
    over_run_ = 0;
    return true;
  }
  return false;
}

std::string Watchdog::pressure() const {
  if (cpu_over_ && mem_over_) return "cpu,memory";
  if (cpu_over_) return "cpu";
  if (mem_over_) return "memory";
  return "";
}

ResourceSample sample_self() {
  ResourceSample s;
  s.wall_ns = static_cast<std::int64_t>(uv_hrtime());
  uv_rusage_t ru{};
  if (uv_getrusage(&ru) == 0)
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::size_t rss = 0;
  if (uv_resident_set_memory(&rss) == 0) s.rss_bytes = rss;
  return s;
}

}  // namespace vigil::agent
