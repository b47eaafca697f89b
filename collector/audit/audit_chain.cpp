#include "collector/audit/audit_chain.h"

#include <mbedtls/md.h>

#include "shared/crypto.h"

namespace vigil::collector::audit {

namespace {

void field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

}  // namespace

std::string canonical(const AuditRecord& r) {
  std::string out = "vigil-audit-v1\n";
  field(out, std::to_string(r.id));
  field(out, std::to_string(r.time_ns));
  field(out, r.actor);
  field(out, r.remote);
  field(out, r.action);
  field(out, r.target);
  field(out, std::to_string(r.status));
  field(out, r.detail);
  field(out, std::to_string(r.count));
  return out;
}

std::string record_hash(std::string_view prev_hash, const AuditRecord& r) {
  std::string input(prev_hash);
  input += canonical(r);
  return crypto::sha256_hex(input);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char out[32];
  // SHA-256 is always compiled into mbedTLS, and HMAC over in-memory buffers cannot fail
  // otherwise; a failure would leave `out` unset, so it is treated as a fatal bug.
  int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const unsigned char*>(key.data()),
                           key.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  if (rc != 0) std::abort();
  return hex(out, sizeof out);
}

std::string record_mac(std::string_view key, std::string_view hash) { return hmac_sha256_hex(key, hash); }

std::string head_mac(std::string_view key, std::int64_t id, std::string_view hash) {
  return hmac_sha256_hex(key, "vigil-audit-head-v1\n" + std::to_string(id) + "\n" + std::string(hash));
}

}  // namespace vigil::collector::audit
