#include "shared/mbed_util.h"

#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vigil::mbed {

int os_rng(void*, unsigned char* out, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    ssize_t r = ::getrandom(out + got, len - got, 0);
    if (r > 0)
      got += static_cast<std::size_t>(r);
    else if (r < 0 && errno != EINTR)
      return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
  }
  return 0;
}

std::string error_text(int rc) {
  char text[160];
  mbedtls_strerror(rc, text, sizeof text);
  char code[16];
  std::snprintf(code, sizeof code, "-0x%04X", static_cast<unsigned>(-rc));
  return std::string(text) + " (" + code + ")";
}

Error fail(const std::string& what, int rc) { return err(what + ": " + error_text(rc)); }

// mbedtls_x509_crt_verify_info() writes one line per reason; a log line wants them joined.
std::string verify_reasons(std::uint32_t flags) {
  char buf[1024];
  int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (buf[i] == '\n') {
      if (i + 1 < n) out += "; ";
    } else {
      out += buf[i];
    }
  }
  return out.empty() ? "unknown reason" : out;
}

std::string common_name_of(const mbedtls_x509_name* name) {
  for (; name != nullptr; name = name->next)
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0)
      return std::string(reinterpret_cast<const char*>(name->val.p), name->val.len);
  return {};
}

}  // namespace vigil::mbed
