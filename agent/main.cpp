// vigil-agent: `enroll` once, then `run` in the foreground until SIGTERM (systemd runs it).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "agent/agent_config.h"
#include "agent/agent_runtime.h"
#include "agent/enroll.h"
#include "shared/file_util.h"

using namespace vigil;
using namespace vigil::agent;

int main(int argc, char** argv) {
  CLI::App app{"Vigil endpoint agent: records file activity and ships it to the collector"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vigil-agent ") + VIGIL_VERSION);

  EnrollOptions eo;
  auto* enroll = app.add_subcommand("enroll", "enroll this device with a collector (generates the device key here)");
  enroll->add_option("--server", eo.server, "collector ingest address HOST:PORT (port 7443 by default)")->required();
  enroll->add_option("--token", eo.token, "enrollment token from `vigilctl enroll-token create`")->required();
  enroll->add_option("--ca", eo.ca_file, "the collector's CA certificate (ca.pem) to pin")->required();
  enroll->add_option("--data-dir", eo.data_dir, "agent data directory")->required();

  std::string data_dir;
  std::string overrides;
  std::vector<std::string> watch;
  auto* run = app.add_subcommand("run", "capture activity and upload it, in the foreground until SIGTERM");
  run->add_option("--data-dir", data_dir, "agent data directory made by enroll")->required();
  run->add_option("--config", overrides, "settings over the data directory's agent.toml (packages: /etc/vigil/agent.toml)");
  run->add_option("--watch", watch, "limit capture to this path (repeatable); default: the whole filesystem");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*enroll) {
    auto id = enroll_device(eo);
    if (!id) {
      std::fprintf(stderr, "vigil-agent: enroll: %s\n", id.error().c_str());
      return 1;
    }
    std::printf("Enrolled as %s; identity and configuration in %s\nStart capturing: vigil-agent run --data-dir %s\n",
                id->c_str(), eo.data_dir.c_str(), eo.data_dir.c_str());
    return 0;
  }

  AgentPaths paths{data_dir};
  if (!file_exists(paths.config())) {
    std::fprintf(stderr, "vigil-agent: %s not found: enroll first (vigil-agent enroll --server HOST:7443 --token T --ca ca.pem --data-dir %s)\n",
                 paths.config().c_str(), data_dir.c_str());
    return 2;
  }
  if (!overrides.empty() && !file_exists(overrides)) {
    std::fprintf(stderr, "vigil-agent: --config %s: no such file\n", overrides.c_str());
    return 2;
  }
  auto cfg = load_agent_config(paths.config(), overrides);
  if (!cfg) {
    std::fprintf(stderr, "vigil-agent: %s\n", cfg.error().c_str());
    return 2;
  }
  for (const auto& w : watch)
    if (!file_exists(w)) {
      std::fprintf(stderr, "vigil-agent: --watch %s: no such path\n", w.c_str());
      return 2;
    }
  RuntimeOptions ro{paths, *cfg, watch};
  return run_hosted([&] { return run_agent(ro, make_file_activity_source()); });
}
