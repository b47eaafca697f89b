// The collector's configuration file (DATA_DIR/collector.toml), written by `init`.
// Unknown keys and wrong types are errors naming the file and line, so a typo never silently
// falls back to a default.
#pragma once
#include <cstdint>
#include <string>

#include "shared/result.h"

namespace vigil::collector {

struct CollectorConfig {
  std::string ingest_address = "127.0.0.1";
  std::uint16_t ingest_port = 7443;
  std::string api_address = "127.0.0.1";
  std::uint16_t api_port = 8443;
  std::string storage_backend = "sqlite";
  std::string sqlite_path = "vigil.db";  // relative to the data dir
  int io_threads = 2;
  // [import]: the HR connector's drop directories (relative to the data dir) and how often they
  // are polled (docs/HR_IMPORT.md).
  std::string import_hr_dir = "import/hr";
  std::string import_attributes_dir = "import/attributes";
  int import_poll_seconds = 5;
  // [engine]: the organisation's working day, used for "after hours" until a user has enough
  // history of their own (local time = UTC + offset), and the smallest group analytics shows.
  int work_start_hour = 8, work_end_hour = 18, utc_offset_minutes = 0;
  int analytics_min_group = 5;
  // [privacy] (auth, docs/ROLES.md): "by_role" shows real user names to roles holding
  // reveal_names; "never" shows pseudonyms to everyone.
  std::string privacy_reveal_names = "by_role";
  // [siem] (docs/SIEM.md): alerts (and optionally events) as RFC 5424 syslog over TLS.
  bool siem_enabled = false;
  std::string siem_host;
  std::uint16_t siem_port = 6514;
  std::string siem_ca;               // PEM file of the CA that issued the receiver's certificate
  std::string siem_server_name;      // the name the receiver's certificate must carry
  std::string siem_format = "json";  // json | cef
  bool siem_include_events = false;
  std::string siem_app_name = "vigil";
  std::string siem_hostname;         // "" = this machine's hostname
  // [smtp]: the relay reminder notices go through (docs/CASES.md); empty host: none configured.
  std::string smtp_host;
  int smtp_port = 25;
  std::string smtp_from;
  bool smtp_starttls = false;
  std::string smtp_ca_file;
  int smtp_timeout_seconds = 30;
};

Result<CollectorConfig> load_collector_config(const std::string& path);
std::string render_collector_config(const CollectorConfig& config);

}  // namespace vigil::collector
