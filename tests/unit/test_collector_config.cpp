// collector.toml: the [engine] section (working day, UTC offset, analytics group size) loads,
// is bounded, names file and line when wrong, and what `init` renders loads back.
#include <catch2/catch.hpp>

#include "collector/collector_config.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using vigil::test::TempDir;

TEST_CASE("collector.toml [engine] sets the working day, the UTC offset and the analytics group size", "[collector_config]") {
  TempDir dir("vigil-engine-config");
  auto cfg = collector::load_collector_config(dir.write(
      "a.toml", "[engine]\nwork_start_hour = 7\nwork_end_hour = 16\nutc_offset_minutes = -300\nanalytics_min_group = 10\n"));
  REQUIRE(cfg.ok());
  CHECK(cfg.value().work_start_hour == 7);
  CHECK(cfg.value().work_end_hour == 16);
  CHECK(cfg.value().utc_offset_minutes == -300);
  CHECK(cfg.value().analytics_min_group == 10);

  auto defaults = collector::load_collector_config(dir.write("b.toml", ""));
  REQUIRE(defaults.ok());
  CHECK(defaults.value().work_start_hour == 8);
  CHECK(defaults.value().work_end_hour == 18);
  CHECK(defaults.value().utc_offset_minutes == 0);

  CHECK_THAT(collector::load_collector_config(dir.write("c.toml", "[engine]\n\nwork_end_hour = 25\n")).error(),
             Catch::Contains("c.toml:3: engine.work_end_hour must be an integer 1..24"));
  CHECK_THAT(collector::load_collector_config(dir.write("d.toml", "[engine]\nutc_offset_minutes = \"+2\"\n")).error(),
             Catch::Contains("engine.utc_offset_minutes must be an integer -720..840"));
  CHECK_THAT(collector::load_collector_config(dir.write("e.toml", "[engine]\nwork_start_hour = 18\nwork_end_hour = 9\n")).error(),
             Catch::Contains("engine.work_start_hour (18) must be before engine.work_end_hour (9)"));
  CHECK_THAT(collector::load_collector_config(dir.write("f.toml", "[engine]\nanalytics_min_group = 1\n")).error(),
             Catch::Contains("analytics_min_group must be an integer 2..1000"));
  CHECK_THAT(collector::load_collector_config(dir.write("g.toml", "[engine]\nworking_hours = 8\n")).error(),
             Catch::Contains("g.toml:2: unknown key 'engine.working_hours'"));

  collector::CollectorConfig custom;
  custom.work_start_hour = 6;
  custom.utc_offset_minutes = 60;
  auto rendered = collector::load_collector_config(dir.write("h.toml", collector::render_collector_config(custom)));
  REQUIRE(rendered.ok());
  CHECK(rendered.value().work_start_hour == 6);
  CHECK(rendered.value().utc_offset_minutes == 60);
}
