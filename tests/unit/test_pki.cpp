#include <catch2/catch.hpp>

#include "shared/crypto.h"
#include "shared/pki.h"
#include "tests/unit/test_support.h"

#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <set>

using namespace vigil;

namespace {

using test::must;
using test::ParsedCert;

// Re-encodes a CSR after changing `from` to `to` (same length) inside its signed body.
std::string tamper_csr(const std::string& csr_pem, const std::string& from, const std::string& to) {
  mbedtls_x509_csr csr;
  mbedtls_x509_csr_init(&csr);
  REQUIRE(mbedtls_x509_csr_parse(&csr, reinterpret_cast<const unsigned char*>(csr_pem.c_str()),
                                 csr_pem.size() + 1) == 0);
  std::string der(reinterpret_cast<const char*>(csr.raw.p), csr.raw.len);
  mbedtls_x509_csr_free(&csr);
  auto at = der.find(from);
  REQUIRE(at != std::string::npos);
  der.replace(at, to.size(), to);
  unsigned char pem[4096];
  size_t olen = 0;
  REQUIRE(mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE REQUEST-----\n",
                                   "-----END CERTIFICATE REQUEST-----\n",
                                   reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                                   pem, sizeof pem, &olen) == 0);
  return std::string(reinterpret_cast<const char*>(pem));
}

}  // namespace

TEST_CASE("a generated key is an ECDSA P-256 key in PEM", "[pki]") {
  auto key = must(pki::generate_key_pem());
  CHECK(key.find("-----BEGIN EC PRIVATE KEY-----") == 0);
  CHECK(must(pki::generate_key_pem()) != key);
}

TEST_CASE("a new CA is a self-signed CA certificate with its key", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  CHECK(must(pki::certificate_common_name(ca.cert_pem)) == "Vigil Test CA");
  ParsedCert crt(ca.cert_pem);
  CHECK(crt.crt.ca_istrue == 1);
  CHECK(mbedtls_x509_crt_check_key_usage(&crt.crt, MBEDTLS_X509_KU_KEY_CERT_SIGN) == 0);
  CHECK(mbedtls_x509_crt_check_key_usage(&crt.crt, MBEDTLS_X509_KU_CRL_SIGN) == 0);
  CHECK(crt.crt.serial.len == 16);
  CHECK(pki::verify_certificate(ca.cert_pem, ca.cert_pem).ok());
}

TEST_CASE("a server certificate is for serverAuth and names its hosts", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  auto other_ca = must(pki::create_ca("Other CA", 3650));
  auto key = must(pki::generate_key_pem());
  auto cert =
      must(pki::issue_server_cert(ca, key, "collector", {"collector.test", "127.0.0.1"}, 365));
  CHECK(must(pki::certificate_common_name(cert)) == "collector");
  CHECK(pki::verify_certificate(cert, ca.cert_pem).ok());

  auto wrong = pki::verify_certificate(cert, other_ca.cert_pem);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().find("not correctly signed by the trusted CA") != std::string::npos);

  ParsedCert crt(cert);
  CHECK(crt.crt.ca_istrue == 0);
  CHECK(crt.has_eku(MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
  CHECK_FALSE(crt.has_eku(MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK(crt.matches_name(ca.cert_pem, "collector.test"));
  CHECK(crt.matches_name(ca.cert_pem, "127.0.0.1"));
  CHECK_FALSE(crt.matches_name(ca.cert_pem, "other.test"));
  CHECK_FALSE(crt.matches_name(ca.cert_pem, "collector"));  // the CN is not a host name here
}

TEST_CASE("a server certificate needs a CA key that matches the CA certificate", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  auto other_ca = must(pki::create_ca("Other CA", 3650));
  pki::CertAuthority mixed{ca.cert_pem, other_ca.key_pem};
  auto r = pki::issue_server_cert(mixed, must(pki::generate_key_pem()), "collector",
                                  {"collector.test"}, 365);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("does not belong") != std::string::npos);
}

TEST_CASE("a device CSR is signed with the collector's device id as CN", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  auto other_ca = must(pki::create_ca("Other CA", 3650));
  auto key = must(pki::generate_key_pem());
  auto csr = must(pki::make_csr(key, "laptop-claims-to-be-admin"));
  CHECK(csr.find("-----BEGIN CERTIFICATE REQUEST-----") == 0);

  auto cert = must(pki::sign_device_csr(ca, csr, "dev-42", 365));
  CHECK(must(pki::certificate_common_name(cert)) == "dev-42");
  CHECK(pki::verify_certificate(cert, ca.cert_pem).ok());
  CHECK_FALSE(pki::verify_certificate(cert, other_ca.cert_pem).ok());

  ParsedCert crt(cert);
  char subject[256];
  REQUIRE(mbedtls_x509_dn_gets(subject, sizeof subject, &crt.crt.subject) > 0);
  CHECK(std::string(subject) == "CN=dev-42, O=Vigil");
  CHECK(crt.has_eku(MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  CHECK_FALSE(crt.has_eku(MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));

  // The certificate carries the device's public key.
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  REQUIRE(mbedtls_pk_parse_key(&pk, reinterpret_cast<const unsigned char*>(key.c_str()),
                               key.size() + 1, nullptr, 0) == 0);
  CHECK(mbedtls_pk_check_pair(&crt.crt.pk, &pk) == 0);
  mbedtls_pk_free(&pk);
}

TEST_CASE("names with commas survive into subject and issuer", "[pki]") {
  auto ca = must(pki::create_ca("Acme, Inc. CA", 3650));
  auto csr = must(pki::make_csr(must(pki::generate_key_pem()), "x"));
  auto cert = must(pki::sign_device_csr(ca, csr, "dev,7", 30));
  CHECK(must(pki::certificate_common_name(cert)) == "dev,7");
  CHECK(pki::verify_certificate(cert, ca.cert_pem).ok());  // issuer DN equals CA subject
}

TEST_CASE("a tampered or malformed CSR is refused", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  auto csr = must(pki::make_csr(must(pki::generate_key_pem()), "device-original"));
  auto tampered = tamper_csr(csr, "device-original", "device-tampered");

  auto r = pki::sign_device_csr(ca, tampered, "dev-1", 365);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("CSR signature does not verify") != std::string::npos);

  CHECK_FALSE(pki::sign_device_csr(ca, "not a csr", "dev-1", 365).ok());
  CHECK_FALSE(pki::sign_device_csr(ca, "", "dev-1", 365).ok());
}

TEST_CASE("bad names and validity periods are refused", "[pki]") {
  auto ca = must(pki::create_ca("Vigil Test CA", 3650));
  auto csr = must(pki::make_csr(must(pki::generate_key_pem()), "d"));
  CHECK_FALSE(pki::sign_device_csr(ca, csr, "", 365).ok());
  CHECK_FALSE(pki::sign_device_csr(ca, csr, std::string("dev\n1"), 365).ok());
  CHECK_FALSE(pki::sign_device_csr(ca, csr, "dev\\1", 365).ok());
  CHECK_FALSE(pki::sign_device_csr(ca, csr, "dev-1", 0).ok());
  CHECK_FALSE(pki::create_ca("CA", -1).ok());
  CHECK_FALSE(pki::issue_server_cert(ca, must(pki::generate_key_pem()), "c", {}, 365).ok());
  CHECK_FALSE(
      pki::issue_server_cert(ca, must(pki::generate_key_pem()), "c", {"bad name"}, 365).ok());
  CHECK_FALSE(pki::certificate_common_name("garbage").ok());
  CHECK_FALSE(pki::verify_certificate("garbage", ca.cert_pem).ok());
}

TEST_CASE("random bytes come from the OS and differ", "[crypto]") {
  CHECK(crypto::random_bytes(0).empty());
  auto a = crypto::random_bytes(32);
  auto b = crypto::random_bytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(crypto::random_bytes(100000).size() == 100000);
}

TEST_CASE("random tokens are unpadded base64url", "[crypto]") {
  CHECK(crypto::random_token(32).size() == 43);
  CHECK(crypto::random_token(1).size() == 2);
  CHECK(crypto::random_token(2).size() == 3);
  CHECK(crypto::random_token(3).size() == 4);
  CHECK(crypto::random_token(0).empty());
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto t = crypto::random_token(24);
    CHECK(t.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 200);
}

TEST_CASE("sha256_hex matches the FIPS 180-2 test vectors", "[crypto]") {
  CHECK(crypto::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("constant_time_equal compares contents and lengths", "[crypto]") {
  CHECK(crypto::constant_time_equal("", ""));
  CHECK(crypto::constant_time_equal("secret", "secret"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secreT"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secret2"));
  CHECK_FALSE(crypto::constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}
