#include "shared/crypto.h"

#include <mbedtls/sha256.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigil::crypto {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    // getrandom() blocks only until the kernel pool is seeded once after boot, then never.
    ssize_t r = ::getrandom(out.data() + got, n - got, 0);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
    } else if (r < 0 && errno != EINTR) {
      // Without randomness every key, token and TLS handshake would be predictable; there is
      // no safe way to carry on, and the signature has no error channel by design.
      std::fprintf(stderr, "vigil: getrandom failed: %s\n", std::strerror(errno));
      std::abort();
    }
  }
  return out;
}

std::string random_token(std::size_t n_bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::string raw = random_bytes(n_bytes);
  std::string out;
  out.reserve((n_bytes * 4 + 2) / 3);
  // Base64url (RFC 4648 §5) without padding: 3 bytes become 4 characters, a tail of 1 or 2
  // bytes becomes 2 or 3 characters.
  std::size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(raw[i])) << 16) |
                      (std::uint32_t(std::uint8_t(raw[i + 1])) << 8) | std::uint8_t(raw[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = raw.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t(std::uint8_t(raw[i])) << 16;
    if (rest == 2) v |= std::uint32_t(std::uint8_t(raw[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[32];
  // Cannot fail for the software implementation Debian ships; zero the digest if it ever does
  // so the result is obviously wrong rather than uninitialised.
  if (mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
                         0) != 0)
    std::memset(digest, 0, sizeof digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not treated as secret (callers compare fixed-size hashes and tokens); the
  // contents are compared without an early exit so timing does not reveal the first mismatch.
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace vigil::crypto
