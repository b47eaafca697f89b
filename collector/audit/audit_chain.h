// The audit log's tamper evidence, as pure functions: how one record is written down
// canonically, how it is chained to the one before it, and how the chain is keyed.
//
// Promises:
// - canonical() is unambiguous: every field is length-prefixed, so no two different records
//   (moving a character from one field into the next included) have the same canonical form.
// - record_hash() = SHA-256(prev_hash || canonical(record)) in hex: changing, removing or
//   reordering any earlier record changes every hash after it.
// - record_mac() = HMAC-SHA256(key, hash): someone who can edit the database but has no key
//   cannot recompute a chain that verifies.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::collector::audit {

// The prev_hash of the first record.
inline constexpr std::string_view kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditRecord {
  std::int64_t id = 0;
  std::int64_t time_ns = 0;
  std::string actor, remote, action, target;
  int status = 0;
  std::string detail;
  std::int64_t count = 1;  // > 1: a summary of refusals from one remote (rate limit)
  std::string prev_hash, hash, mac;
};

std::string canonical(const AuditRecord& r);
std::string record_hash(std::string_view prev_hash, const AuditRecord& r);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
std::string record_mac(std::string_view key, std::string_view hash);
// The MAC of the head file's line, so the head cannot be moved without the key either.
std::string head_mac(std::string_view key, std::int64_t id, std::string_view hash);

}  // namespace vigil::collector::audit
