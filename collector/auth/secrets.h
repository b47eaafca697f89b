// Password hashing (argon2id through libsodium's crypto_pwhash_str) and user-name pseudonyms
// (HMAC-SHA256 under a per-deployment key).
//
// Promises:
// - hash_password never returns the password or anything reversible; verify_password compares
//   in constant time (libsodium) and is false for any malformed hash.
// - A Pseudonymizer gives the same pseudonym for the same user under the same key, different
//   ones under different keys, and cannot be reversed without the key: "user-" + 12 hex digits
//   of HMAC-SHA256(key, user) (48 bits: collisions are negligible below millions of users).
#pragma once
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil::collector::auth {

// Initialises libsodium once; an error when the library cannot start (no entropy source).
Status init_sodium();

Result<std::string> hash_password(std::string_view password);
bool verify_password(const std::string& hash, std::string_view password);

class Pseudonymizer {
 public:
  explicit Pseudonymizer(std::string key) : key_(std::move(key)) {}
  // Reads the key file, creating it (32 random bytes, hex, mode 0600) when it does not exist.
  static Result<Pseudonymizer> from_key_file(const std::string& path);

  std::string pseudonym(std::string_view user) const;
  static bool looks_like_pseudonym(std::string_view s);

 private:
  std::string key_;
};

// "vgl_" + 43 URL-safe characters (32 random bytes): recognisable in logs and secret scanners.
std::string new_api_token();

}  // namespace vigil::collector::auth
