// Small cryptographic helpers over mbedTLS: CSPRNG bytes, SHA-256, tokens, constant-time compare.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::crypto {

std::string random_bytes(std::size_t n);       // from the OS CSPRNG (getrandom)
std::string random_token(std::size_t n_bytes);  // URL-safe base64 of n random bytes, no padding
std::string sha256_hex(std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace vigil::crypto
