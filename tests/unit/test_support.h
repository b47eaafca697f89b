// Fixtures shared by the unit tests (header-only): a temporary directory that cleans up after
// itself, must() for unwrapping a Result that has to succeed, and a parsed certificate for
// looking at fields the PKI API does not expose. Failures are reported through Catch2 REQUIRE.
#pragma once
#include <catch2/catch.hpp>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "shared/result.h"

namespace vigil::test {

// A fresh, empty directory made by mkdtemp() in the system temporary directory (/tmp unless
// TMPDIR says otherwise), removed with everything in it on destruction.
struct TempDir {
  std::filesystem::path path;

  explicit TempDir(const std::string& prefix = "vigil-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` inside the directory (nothing is created).
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Writes `text` to `name` inside the directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    auto p = file(name);
    std::ofstream(p) << text;
    return p;
  }
};

// The value of a Result that the test cannot go on without; fails the test with its error.
template <typename T>
T must(Result<T> r) {
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// A certificate parsed by mbedTLS (the PEM must parse), for looking at its fields.
struct ParsedCert {
  mbedtls_x509_crt crt;

  explicit ParsedCert(const std::string& pem) {
    mbedtls_x509_crt_init(&crt);
    REQUIRE(mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(pem.c_str()),
                                   pem.size() + 1) == 0);
  }
  ~ParsedCert() { mbedtls_x509_crt_free(&crt); }
  ParsedCert(const ParsedCert&) = delete;
  ParsedCert& operator=(const ParsedCert&) = delete;

  // DER of the first certificate in the PEM.
  std::string der() const {
    return std::string(reinterpret_cast<const char*>(crt.raw.p), crt.raw.len);
  }
  bool has_eku(const char* oid, std::size_t len) {
    return mbedtls_x509_crt_check_extended_key_usage(&crt, oid, len) == 0;
  }
  // Whether the certificate chains to ca_pem and carries `name` (checks subjectAltName).
  bool matches_name(const std::string& ca_pem, const char* name) {
    ParsedCert ca(ca_pem);
    std::uint32_t flags = 0;
    return mbedtls_x509_crt_verify(&crt, &ca.crt, nullptr, name, &flags, nullptr, nullptr) == 0;
  }
};

}  // namespace vigil::test
