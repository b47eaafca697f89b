#include "collector/activity/activity_cursor.h"

#include <mbedtls/md.h>

#include <charconv>
#include <optional>
#include <filesystem>

#include "shared/crypto.h"
#include "shared/file_util.h"

namespace vigil::collector {

namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMacBytes = 16;  // truncated HMAC-SHA256: 128 bits is plenty against forgery
constexpr std::string_view kVersion = "a1";

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + i + 2, v, 16);
    if (ec != std::errc() || p != text.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(v));
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<ActivityCursors> ActivityCursors::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (auto st = write_file_atomic(path, crypto::random_bytes(kKeyBytes), 0600); !st)
      return err("creating the cursor key " + path + ": " + st.error());
  }
  auto key = read_file(path);
  if (!key) return err("reading the cursor key " + path + ": " + key.error());
  if (key->size() != kKeyBytes)
    return err("the cursor key " + path + " has " + std::to_string(key->size()) + " bytes, expected " +
               std::to_string(kKeyBytes) + " (delete it to make a new one; open cursors stop working)");
  return ActivityCursors(std::move(*key));
}

std::string ActivityCursors::mac(std::string_view data) const {
  unsigned char out[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const unsigned char*>(key_.data()),
                  key_.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), kMacBytes);
}

std::string ActivityCursors::sign(const ActivityPosition& p, std::string_view binding) const {
  const std::string body = std::string(kVersion) + ":" + std::to_string(p.time_ns) + ":" + std::to_string(p.seq) + ":" +
                           p.device_id;
  return hex(body) + "." + hex(mac(std::string(binding) + "\n" + body));
}

Result<ActivityPosition> ActivityCursors::verify(std::string_view cursor, std::string_view binding) const {
  const auto dot = cursor.find('.');
  if (dot == std::string_view::npos) return err("'cursor' is not a cursor this collector issued");
  auto body = unhex(cursor.substr(0, dot));
  auto tag = unhex(cursor.substr(dot + 1));
  if (!body || !tag || tag->size() != kMacBytes) return err("'cursor' is not a cursor this collector issued");
  if (!crypto::constant_time_equal(*tag, mac(std::string(binding) + "\n" + *body)))
    return err("'cursor' does not match this query (it was changed, or made for other filters or another caller)");
  // Signed by us: the fields parse, unless the format changed under an old cursor.
  std::string_view b = *body;
  ActivityPosition p;
  auto next = [&b]() {
    auto c = b.find(':');
    auto part = b.substr(0, c);
    b = c == std::string_view::npos ? std::string_view() : b.substr(c + 1);
    return part;
  };
  if (next() != kVersion || !parse_number(next(), p.time_ns) || !parse_number(next(), p.seq))
    return err("'cursor' comes from another version of the collector; start the query again");
  p.device_id = std::string(b);
  return p;
}

}  // namespace vigil::collector
