// Enrollment of this device with a collector: the key pair is generated here and never leaves
// the device; the collector signs a CSR in exchange for a valid token and the agent pins the CA
// it was given on the command line (the collector's answer must chain to it).
#pragma once
#include <string>

#include "shared/result.h"

namespace vigil::agent {

struct EnrollOptions {
  std::string server;    // host:port of the ingest port
  std::string token;
  std::string ca_file;   // the collector's CA, obtained out of band
  std::string data_dir;
  std::uint64_t timeout_ms = 20000;
};

// On success returns the device id; writes device.key, device.pem, ca.pem, agent.toml.
Result<std::string> enroll_device(const EnrollOptions& options);

}  // namespace vigil::agent
