// agent/watchdog.h: the shedding decision on synthetic samples (that part is logic), and
// sample_self() on this real process. The whole agent under a tiny limit is in
// tests/integration/test_e2e_exfil.cpp. Tag: [watchdog].
#include <catch2/catch.hpp>
#include <ctime>
#include <chrono>
#include <vector>

#include "agent/agent_config.h"
#include "agent/watchdog.h"
#include "tests/unit/test_support.h"

using namespace vigil::agent;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;

// One sample per second; cpu_percent of one core used over the last second.
struct Feed {
  Watchdog& w;
  std::int64_t t = 0;
  double cpu = 0;
  std::vector<bool> changes;
  bool step(double cpu_percent, std::uint64_t rss) {
    t += kSec;
    cpu += cpu_percent / 100.0;
    bool c = w.observe({t, cpu, rss});
    changes.push_back(c);
    return c;
  }
};

}  // namespace

TEST_CASE("CPU over the limit for trip_samples samples sheds; recovery needs calm samples", "[watchdog]") {
  WatchdogLimits l;
  l.cpu_percent = 25;
  l.rss_bytes = 200 << 20;
  l.trip_samples = 3;
  l.recover_samples = 2;
  Watchdog w(l);
  Feed f{w};
  CHECK_FALSE(f.step(90, 10 << 20));  // baseline only: no CPU figure yet
  CHECK(w.pressure().empty());
  CHECK_FALSE(f.step(90, 10 << 20));
  CHECK(w.cpu_percent() == Approx(90));
  CHECK(w.pressure() == "cpu");
  CHECK_FALSE(f.step(90, 10 << 20));
  CHECK_FALSE(w.shedding());
  CHECK(f.step(90, 10 << 20));  // third over in a row
  CHECK(w.shedding());
  // A dip below the limit but above 80% of it: still shedding (hysteresis).
  CHECK_FALSE(f.step(22, 10 << 20));
  CHECK_FALSE(f.step(22, 10 << 20));
  CHECK_FALSE(f.step(22, 10 << 20));
  CHECK(w.shedding());
  CHECK(w.pressure().empty());
  // Calm (< 20%) for two samples: back.
  CHECK_FALSE(f.step(5, 10 << 20));
  CHECK(f.step(5, 10 << 20));
  CHECK_FALSE(w.shedding());
}

TEST_CASE("spikes shorter than trip_samples do not shed; memory counts too", "[watchdog]") {
  WatchdogLimits l;
  l.cpu_percent = 25;
  l.rss_bytes = 100 << 20;
  l.trip_samples = 3;
  l.recover_samples = 3;
  Watchdog w(l);
  Feed f{w};
  f.step(0, 1);
  for (int i = 0; i < 10; ++i) {
    f.step(95, 1);
    f.step(95, 1);
    f.step(3, 1);  // breaks the run
  }
  CHECK_FALSE(w.shedding());
  f.step(3, 150 << 20);
  CHECK(w.pressure() == "memory");
  f.step(95, 150 << 20);
  CHECK(w.pressure() == "cpu,memory");
  CHECK(f.step(3, 150 << 20));
  CHECK(w.shedding());
  CHECK(w.rss_bytes() == 150u << 20);
  // 90 MB is under the limit but above 80% of it: not calm.
  for (int i = 0; i < 5; ++i) CHECK_FALSE(f.step(3, 90 << 20));
  CHECK(w.shedding());
  f.step(3, 50 << 20);
  f.step(3, 50 << 20);
  CHECK(f.step(3, 50 << 20));
  CHECK_FALSE(w.shedding());
}

TEST_CASE("a limit of 0 is no limit", "[watchdog]") {
  WatchdogLimits l;
  l.cpu_percent = 0;
  l.rss_bytes = 0;
  l.trip_samples = 1;
  Watchdog w(l);
  Feed f{w};
  for (int i = 0; i < 5; ++i) CHECK_FALSE(f.step(400, 1ull << 40));
  CHECK_FALSE(w.shedding());
}

TEST_CASE("sample_self reads this process's CPU time and resident set", "[watchdog]") {
  ResourceSample a = sample_self();
  // Burn 200 ms of this process's CPU (by libc's own clock, so a busy machine only stretches
  // the wall time).
  volatile std::uint64_t x = 0;
  const std::clock_t start = std::clock();
  while (std::clock() - start < CLOCKS_PER_SEC / 5) x = x + 1;
  ResourceSample b = sample_self();
  CHECK(b.wall_ns > a.wall_ns);
  CHECK(b.cpu_seconds - a.cpu_seconds > 0.15);
  CHECK(b.rss_bytes > (1u << 20));
  Watchdog w;
  w.observe(a);
  w.observe(b);
  // The share of one core the process used between the samples, as the two samples say.
  const double expected = 100.0 * (b.cpu_seconds - a.cpu_seconds) / (static_cast<double>(b.wall_ns - a.wall_ns) / 1e9);
  CHECK(w.cpu_percent() == Approx(expected).epsilon(0.01));
  CHECK(w.cpu_percent() > 10);
}

TEST_CASE("agent.toml carries the watchdog limits", "[watchdog]") {
  vigil::test::TempDir d("vigil-wdcfg");
  const std::string base = "server = \"h:1\"\ndevice_id = \"d\"\n";
  auto c = vigil::test::must(load_agent_config(d.write("a.toml", base)));
  CHECK(c.cpu_limit_percent == 25);
  CHECK(c.rss_limit_mb == 200);
  c = vigil::test::must(load_agent_config(d.write("b.toml", base + "cpu_limit_percent = 12.5\nrss_limit_mb = 64\nwatchdog_interval_ms = 500\n")));
  CHECK(c.cpu_limit_percent == 12.5);
  CHECK(c.rss_limit_mb == 64);
  CHECK(c.watchdog_interval_ms == 500);
  c = vigil::test::must(load_agent_config(d.write("r.toml", render_agent_config(c))));  // round trip
  CHECK(c.cpu_limit_percent == 12.5);
  CHECK(c.rss_limit_mb == 64);
  for (const char* bad : {"cpu_limit_percent = -1\n", "cpu_limit_percent = \"x\"\n", "rss_limit_mb = 1.5\n",
                          "rss_limit_mb = -3\n", "watchdog_interval_ms = 5\n"}) {
    auto r = load_agent_config(d.write("bad.toml", base + bad));
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("bad.toml:3") != std::string::npos);
  }
}

TEST_CASE("agent.toml carries capture_batch_ms: 20 by default, 0 allowed, checked", "[agent_config]") {
  vigil::test::TempDir d("vigil-batchcfg");
  const std::string base = "server = \"h:1\"\ndevice_id = \"d\"\n";
  auto c = vigil::test::must(load_agent_config(d.write("a.toml", base)));
  CHECK(c.capture_batch_ms == 20);
  c = vigil::test::must(load_agent_config(d.write("b.toml", base + "capture_batch_ms = 0\n")));
  CHECK(c.capture_batch_ms == 0);
  c.capture_batch_ms = 35;
  c = vigil::test::must(load_agent_config(d.write("r.toml", render_agent_config(c))));  // round trip
  CHECK(c.capture_batch_ms == 35);
  for (const char* bad : {"capture_batch_ms = -1\n", "capture_batch_ms = 1001\n", "capture_batch_ms = \"5\"\n"}) {
    auto r = load_agent_config(d.write("bad.toml", base + bad));
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("bad.toml:3") != std::string::npos);
    CHECK(r.error().find("capture_batch_ms") != std::string::npos);
  }
}

TEST_CASE("agent.toml carries track_reads: auto by default, always allowed, checked", "[agent_config]") {
  vigil::test::TempDir d("vigil-readscfg");
  const std::string base = "server = \"h:1\"\ndevice_id = \"d\"\n";
  auto c = vigil::test::must(load_agent_config(d.write("a.toml", base)));
  CHECK_FALSE(c.track_reads_always);
  c = vigil::test::must(load_agent_config(d.write("b.toml", base + "track_reads = \"always\"\n")));
  CHECK(c.track_reads_always);
  c = vigil::test::must(load_agent_config(d.write("r.toml", render_agent_config(c))));  // round trip
  CHECK(c.track_reads_always);
  c.track_reads_always = false;
  c = vigil::test::must(load_agent_config(d.write("r2.toml", render_agent_config(c))));
  CHECK_FALSE(c.track_reads_always);
  for (const char* bad : {"track_reads = \"never\"\n", "track_reads = true\n"}) {
    auto r = load_agent_config(d.write("bad.toml", base + bad));
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("bad.toml:3") != std::string::npos);
    CHECK(r.error().find("track_reads") != std::string::npos);
  }
}
