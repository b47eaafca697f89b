// Internal mbedTLS plumbing shared by pki.cpp and tls_session.cpp; not a public interface.
//
// Promises:
// - Context<T, Init, Free> owns one heap-allocated mbedTLS context: Init on construction, Free
//   (then delete) on destruction. The heap keeps its address fixed when the owner moves, which
//   mbedTLS needs because its contexts point at each other (an SSL context at its config, the
//   config at certificates and keys).
// - os_rng() is an mbedTLS RNG callback straight from the kernel CSPRNG (getrandom). It holds no
//   state, so it needs no seeding or lock and may be used from any number of threads at once.
// - error_text() / fail() describe an mbedTLS return code as "<mbedTLS text> (-0xNNNN)".
#pragma once
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shared/result.h"

namespace vigil::mbed {

template <typename T, void (*Init)(T*), void (*Free)(T*)>
class Context {
 public:
  Context() : p_(new T) { Init(p_.get()); }
  T* get() const { return p_.get(); }
  T* operator->() const { return p_.get(); }

 private:
  struct Deleter {
    void operator()(T* p) const {
      Free(p);
      delete p;
    }
  };
  std::unique_ptr<T, Deleter> p_;
};

using Pk = Context<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using Crt = Context<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;

// mbedTLS RNG callback (the p_rng argument is ignored; pass nullptr).
int os_rng(void* unused, unsigned char* out, std::size_t len);

// mbedTLS's description of rc followed by the code itself, e.g. "... (-0x2700)".
std::string error_text(int rc);

// err("<what>: <error_text(rc)>").
Error fail(const std::string& what, int rc);

// The reasons behind mbedTLS certificate verification flags, joined with "; " on one line
// ("unknown reason" when there are none).
std::string verify_reasons(std::uint32_t flags);

// The first CN attribute of a distinguished name, or "" when it has none.
std::string common_name_of(const mbedtls_x509_name* name);

// PEM text as mbedTLS wants it: mbedTLS detects PEM by a terminating NUL counted in the length,
// so pass pem.size() + 1 alongside.
inline const unsigned char* pem_bytes(const std::string& pem) {
  return reinterpret_cast<const unsigned char*>(pem.c_str());
}

}  // namespace vigil::mbed
