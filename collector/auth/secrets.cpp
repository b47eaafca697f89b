#include "collector/auth/secrets.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shared/crypto.h"
#include "shared/file_util.h"

namespace vigil::collector::auth {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 15]);
  }
  return s;
}

}  // namespace

Status init_sodium() {
  if (sodium_init() < 0) return err("libsodium could not be initialised");
  return {};
}

Result<std::string> hash_password(std::string_view password) {
  if (auto s = init_sodium(); !s) return err(s.error());
  char out[crypto_pwhash_STRBYTES];
  // Interactive limits (64 MiB, 2 passes): a login stays well under a second on a busy machine.
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return err("hashing the password failed (out of memory)");
  return std::string(out);
}

bool verify_password(const std::string& hash, std::string_view password) {
  if (init_sodium().ok() == false || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Result<Pseudonymizer> Pseudonymizer::from_key_file(const std::string& path) {
  if (auto s = init_sodium(); !s) return err(s.error());
  // O_EXCL: two processes starting at once never write two different keys.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const std::string key = hex(reinterpret_cast<const unsigned char*>(crypto::random_bytes(32).data()), 32) + "\n";
    const bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return err("writing the pseudonym key " + path + " failed: " + std::strerror(errno));
  } else if (errno != EEXIST) {
    return err("creating the pseudonym key " + path + ": " + std::strerror(errno));
  }
  auto text = read_file(path);
  if (!text) return err("reading the pseudonym key: " + text.error());
  std::string key = *text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() < 32) return err(path + ": the pseudonym key is too short (expected 64 hex digits)");
  return Pseudonymizer(key);
}

std::string Pseudonymizer::pseudonym(std::string_view user) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key_.data()), key_.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(user.data()), user.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return "user-" + hex(mac, 6);
}

bool Pseudonymizer::looks_like_pseudonym(std::string_view s) {
  if (s.size() != 17 || s.substr(0, 5) != "user-") return false;
  for (char c : s.substr(5))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string new_api_token() { return "vgl_" + crypto::random_token(32); }

}  // namespace vigil::collector::auth
