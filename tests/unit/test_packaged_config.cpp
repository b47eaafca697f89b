// The configuration files the packages ship: /etc/vigil/agent.toml as overrides of the enrolled
// agent.toml, and /etc/vigil/collector.toml as the collector's configuration.
#include <catch2/catch.hpp>

#include "agent/agent_config.h"
#include "collector/collector_config.h"
#include "test_support.h"

using namespace vigil;

namespace {
const std::string kEnrolled = "server = \"collector:7443\"\ndevice_id = \"dev-1\"\nwatch = [\"/srv\"]\nflush_interval_ms = 100\n"
                              "[spool]\nmax_bytes = 2097152\nmax_age = \"3d\"\n";
std::string source(const std::string& rel) { return std::string(VIGIL_SOURCE_DIR) + "/" + rel; }
}  // namespace

TEST_CASE("the packaged agent.toml, all commented out, changes nothing", "[packaging]") {
  test::TempDir d("vigil-pkgcfg");
  auto base = test::must(agent::load_agent_config(d.write("agent.toml", kEnrolled)));
  auto with = test::must(agent::load_agent_config(d.write("agent.toml", kEnrolled), source("installers/linux/etc/agent.toml")));
  CHECK(agent::render_agent_config(with) == agent::render_agent_config(base));
  CHECK(with.watch == std::vector<std::string>{"/srv"});
}

TEST_CASE("keys set in the overrides file win; the rest keep the enrolled values", "[packaging]") {
  test::TempDir d("vigil-pkgcfg");
  auto enrolled = d.write("agent.toml", kEnrolled);
  auto c = test::must(agent::load_agent_config(
      enrolled, d.write("etc.toml", "watch = [\"/home\", \"/data\"]\nprint_capture = false\n[spool]\nmax_age = \"7d\"\n")));
  CHECK(c.server == "collector:7443");
  CHECK(c.device_id == "dev-1");
  CHECK(c.watch == std::vector<std::string>{"/home", "/data"});
  CHECK_FALSE(c.print_capture);
  CHECK(c.flush_interval_ms == 100);
  CHECK(c.spool.max_bytes == 2097152);                         // not in the overrides
  CHECK(c.spool.max_age_ns == 7ll * 24 * 3600 * 1000000000);  // overridden
  CHECK(test::must(agent::load_agent_config(enrolled, "")).watch == std::vector<std::string>{"/srv"});
}

TEST_CASE("the overrides file cannot change the identity and is checked like agent.toml", "[packaging]") {
  test::TempDir d("vigil-pkgcfg");
  auto enrolled = d.write("agent.toml", kEnrolled);
  for (const char* key : {"server = \"evil:7443\"\n", "device_id = \"other\"\n"}) {
    auto r = agent::load_agent_config(enrolled, d.write("etc.toml", std::string("# x\n") + key));
    INFO(key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("etc.toml:2") != std::string::npos);
    CHECK(r.error().find("set by enrollment") != std::string::npos);
  }
  auto r = agent::load_agent_config(enrolled, d.write("etc.toml", "wach = [\"/x\"]\n"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("unknown key 'wach'") != std::string::npos);
  r = agent::load_agent_config(enrolled, d.file("missing.toml"));
  CHECK_FALSE(r.ok());
  // A broken enrolled file is still the error, whatever the overrides say.
  r = agent::load_agent_config(d.write("bad.toml", "device_id = \"x\"\n"), d.write("etc.toml", "watch = []\n"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("'server' is missing") != std::string::npos);
}

TEST_CASE("the packaged collector.toml loads: agents on all addresses, the API on loopback", "[packaging]") {
  auto c = test::must(collector::load_collector_config(source("installers/linux/etc/collector.toml")));
  CHECK(c.ingest_address == "0.0.0.0");
  CHECK(c.ingest_port == 7443);
  CHECK(c.api_address == "127.0.0.1");
  CHECK(c.api_port == 8443);
  CHECK(c.sqlite_path == "vigil.db");
}
