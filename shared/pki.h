// The collector's private PKI over mbedTLS: a CA, the server certificate, device CSRs and their
// signing. Keys are ECDSA P-256. Everything is PEM strings; writing files (mode 0600 for keys) is
// the caller's job.
//
// Promises:
// - Certificates carry extended key usage: serverAuth for the collector, clientAuth for devices,
//   so a device certificate can never act as the server (and the reverse).
// - sign_device_csr() takes only the public key from the CSR (after checking its signature) and
//   sets the subject CN to the device id the collector chose; nothing else in the CSR is trusted.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/result.h"

namespace vigil::pki {

struct CertAuthority {
  std::string cert_pem;
  std::string key_pem;
};

Result<std::string> generate_key_pem();  // ECDSA P-256, PEM (SEC1 or PKCS#8)
Result<CertAuthority> create_ca(const std::string& common_name, int valid_days);
// dns_names become subjectAltName dNSName entries (mbedTLS 2.28 matches IP literals there too,
// so include "127.0.0.1" to connect by address).
Result<std::string> issue_server_cert(const CertAuthority& ca, const std::string& server_key_pem,
                                      const std::string& common_name,
                                      const std::vector<std::string>& dns_names, int valid_days);
Result<std::string> make_csr(const std::string& key_pem, const std::string& common_name);
Result<std::string> sign_device_csr(const CertAuthority& ca, std::string_view csr_pem,
                                    const std::string& device_id, int valid_days);
// Subject CN of a PEM certificate.
Result<std::string> certificate_common_name(std::string_view cert_pem);
// Whether cert_pem chains to ca_pem (signature and validity period).
Status verify_certificate(std::string_view cert_pem, std::string_view ca_pem);

}  // namespace vigil::pki
