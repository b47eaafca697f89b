// The collector's data directory: what `init` creates and `run` needs.
//   ca.pem ca.key          the CA that signs device certificates (key 0600)
//   server.pem server.key  the collector's TLS identity for both ports (key 0600)
//   admin.token            the first API token (0600); only its SHA-256 is kept in memory
//   collector.toml         configuration
//   vigil.db               SQLite storage (default backend)
#pragma once
#include <string>
#include <vector>

#include "collector/collector_config.h"
#include "shared/pki.h"
#include "shared/result.h"

namespace vigil::collector {

struct DataDir {
  std::string root;
  std::string path(const std::string& name) const { return root + "/" + name; }
};

struct InitOptions {
  std::vector<std::string> server_names;  // extra subjectAltNames for the server certificate
  CollectorConfig config;
  bool write_config = true;  // false: the configuration lives elsewhere (run --config)
};

// Creates everything; refuses to overwrite an existing CA.
Status init_data_dir(const DataDir& dir, const InitOptions& options);

struct LoadedIdentity {
  pki::CertAuthority ca;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string admin_token_sha256;
};
Result<LoadedIdentity> load_identity(const DataDir& dir);

}  // namespace vigil::collector
