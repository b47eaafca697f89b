// Watchdog: the agent watching its own CPU and memory (as osquery's watchdog does) and deciding
// when to shed optional work. Pure decision logic over samples, plus sample_self() which reads
// the process's own usage through libuv (OS-neutral).
//
// What it promises:
// - CPU% is the process's user+system CPU time over the wall time between two samples (100% =
//   one core busy); the first sample only sets the baseline (no CPU figure, never "over").
// - A resource is over when the sample exceeds its limit (cpu_percent, rss_bytes; 0 = no limit).
// - Shedding starts after `trip_samples` consecutive samples with any resource over, and stops
//   after `recover_samples` consecutive samples with every resource below `recover_fraction` of
//   its limit (hysteresis: hovering at the limit does not flap).
// - observe() returns whether the shedding state changed, so the caller logs and reports once.
#pragma once
#include <cstdint>
#include <string>

namespace vigil::agent {

struct WatchdogLimits {
  double cpu_percent = 25.0;
  std::uint64_t rss_bytes = 200ull << 20;
  int trip_samples = 3;
  int recover_samples = 3;
  double recover_fraction = 0.8;
};

struct ResourceSample {
  std::int64_t wall_ns = 0;    // a monotonic clock
  double cpu_seconds = 0;      // user + system since the process started
  std::uint64_t rss_bytes = 0;
};

class Watchdog {
 public:
  explicit Watchdog(WatchdogLimits limits = {});
  // Takes one sample; true when shedding() changed because of it.
  bool observe(const ResourceSample& s);
  bool shedding() const { return shedding_; }
  // "" | "cpu" | "memory" | "cpu,memory": what was over its limit at the last sample.
  std::string pressure() const;
  double cpu_percent() const { return cpu_percent_; }  // at the last sample; 0 before two samples
  std::uint64_t rss_bytes() const { return rss_; }
  const WatchdogLimits& limits() const { return limits_; }
  void set_limits(const WatchdogLimits& limits) { limits_ = limits; }

 private:
  WatchdogLimits limits_;
  bool have_prev_ = false;
  ResourceSample prev_{};
  double cpu_percent_ = 0;
  std::uint64_t rss_ = 0;
  bool cpu_over_ = false, mem_over_ = false;
  int over_run_ = 0, calm_run_ = 0;
  bool shedding_ = false;
};

// This process's CPU time and resident set now (libuv); wall_ns from libuv's monotonic clock.
ResourceSample sample_self();

}  // namespace vigil::agent
