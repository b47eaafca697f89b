// The agent's data directory and its configuration (DATA_DIR/agent.toml, written by `enroll`).
//   agent.toml   server, device id, spool caps, capture settings
//   device.key   private key generated on this device (0600), never leaves it
//   device.pem   certificate the collector signed for it
//   ca.pem       the collector's CA, pinned at enrollment
//   spool.db     the spool
// Unknown keys and wrong types are errors naming the file and line.
//
// removable_devices = ["/dev/loop*"]: globs (fnmatch, matched against the block device node) of
// devices to report as removable media in volume.mounted/device.connected events whatever the
// kernel's sysfs says. For machines without a USB bus (tests use loop devices) and for disks the
// kernel does not flag (an eSATA dock). Empty by default. See docs/REMOVABLE_MEDIA.md.
//
// print_capture = true|false: record finished print jobs (print.job) from the print server's
// notifications (default true; without a print server the agent keeps retrying quietly).
// print_server = "": which CUPS server: "" for the system's default (CUPS_SERVER, client.conf,
// /run/cups/cups.sock), a unix socket path, or HOST[:PORT].
// print_spool_dir = "/var/spool/cups": that server's RequestRoot, when it is on this machine: the
// spooled documents are classified from there, and a job appearing there is noticed at once.
// See docs/PRINTING.md.
// security_capture (true), security_config_root ("/"), security_netns (""): changes to the
// firewall, sudoers, PAM, sshd, audit, LSM and screen-lock settings, and to the agent's own files;
// session_capture (true), utmp_path ("/var/run/utmp"): logon/logoff/lock/unlock. See
// docs/SECURITY_SETTINGS.md.
// capture_batch_ms = 20: after a drain of file activity the agent pauses its poll this long, so a
// storm is read in batches (docs/DECISIONS.md); 0 drains on every wakeup.
// track_reads = "auto": reads (the source of a copy) are captured only while a removable volume
// or a network share is mounted; "always" captures them all the time (docs/DECISIONS.md).
// cpu_limit_percent = 25, rss_limit_mb = 200, watchdog_interval_ms = 5000: the watchdog's limits
// (docs/WATCHDOG.md); over them the agent sheds classification and says so in agent.health.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "agent/spool.h"
#include "shared/result.h"

namespace vigil::agent {

struct AgentConfig {
  std::string server;       // host:port of the collector's ingest port
  std::string device_id;
  SpoolLimits spool;
  std::vector<std::string> watch;    // default watch paths when --watch is not given
  std::vector<std::string> exclude;  // never reported
  std::vector<std::string> reconcile_roots;  // scanned after a gap when watching everything
  std::vector<std::string> removable_devices;  // device-node globs treated as removable media
  std::uint64_t flush_interval_ms = 100;
  // After a drain of file activity the agent waits this long before it looks again, so a storm is
  // read in batches (one wakeup, one /proc check per process per batch); 0: on every wakeup.
  std::uint64_t capture_batch_ms = 20;
  // Reads cost every process on the machine a kernel record per read-only close: by default they
  // are captured only while there is somewhere to copy to. true: always ("always" in the file).
  bool track_reads_always = false;
  bool print_capture = true;
  std::string print_server;  // "" = the system's default print server
  std::string print_spool_dir = "/var/spool/cups";
  // Security settings and agent tamper (docs/SECURITY_SETTINGS.md).
  bool security_capture = true;
  std::string security_config_root = "/";  // prefix of /etc/sudoers, /etc/pam.d, ... (tests: a temp root)
  std::string security_netns;              // network namespace whose nftables are watched; "" = the agent's
  // Logon, logoff (utmp) and lock, unlock (logind, when it runs).
  bool session_capture = true;
  std::string utmp_path = "/var/run/utmp";
  // Watchdog (agent/watchdog.h, docs/WATCHDOG.md): over these the agent sheds classification.
  double cpu_limit_percent = 25.0;      // of one core, averaged between samples; 0: no limit
  std::uint64_t rss_limit_mb = 200;     // resident set; 0: no limit
  std::uint64_t watchdog_interval_ms = 5000;  // how often it samples
};

struct AgentPaths {
  std::string root;
  std::string config() const { return root + "/agent.toml"; }
  std::string key() const { return root + "/device.key"; }
  std::string cert() const { return root + "/device.pem"; }
  std::string ca() const { return root + "/ca.pem"; }
  std::string spool() const { return root + "/spool.db"; }
};

Result<AgentConfig> load_agent_config(const std::string& path);
// The same, then the keys set in `overrides` (the packages' /etc/vigil/agent.toml, where an
// administrator tunes capture) over it; "" = none. server and device_id come from enrollment
// only and are an error there. Unset keys keep the data directory's values.
Result<AgentConfig> load_agent_config(const std::string& path, const std::string& overrides);
std::string render_agent_config(const AgentConfig& config);

}  // namespace vigil::agent
