#include "shared/pki.h"

#include <arpa/inet.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <cstring>
#include <ctime>

#include "shared/mbed_util.h"

namespace vigil::pki {
namespace {

// --- mbedTLS plumbing -----------------------------------------------------------------------

// Shared mbedTLS plumbing: owning contexts, the RNG callback, error text (shared/mbed_util.h).
using namespace vigil::mbed;

using Csr = mbed::Context<mbedtls_x509_csr, mbedtls_x509_csr_init, mbedtls_x509_csr_free>;
using CrtWriter =
    mbed::Context<mbedtls_x509write_cert, mbedtls_x509write_crt_init, mbedtls_x509write_crt_free>;
using CsrWriter =
    mbed::Context<mbedtls_x509write_csr, mbedtls_x509write_csr_init, mbedtls_x509write_csr_free>;
using Mpi = mbed::Context<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;

Result<Pk> parse_key(const std::string& key_pem, const char* what) {
  Pk key;
  int rc = mbedtls_pk_parse_key(key.get(), pem_bytes(key_pem), key_pem.size() + 1, nullptr, 0);
  if (rc != 0) return fail(std::string("cannot parse ") + what, rc);
  return key;
}

Result<Crt> parse_cert(std::string_view cert_pem, const char* what) {
  Crt crt;
  const std::string pem(cert_pem);
  int rc = mbedtls_x509_crt_parse(crt.get(), pem_bytes(pem), pem.size() + 1);
  if (rc != 0) return fail(std::string("cannot parse ") + what, rc);
  return crt;
}

// --- names ----------------------------------------------------------------------------------

// One attribute value for mbedTLS's "CN=...,O=..." syntax. Its parser (2.28) knows only the
// escape "\,", so commas are escaped and backslashes refused; control characters are refused
// because they have no business in a name that ends up in logs.
Result<std::string> dn_value(std::string_view value, const char* what) {
  if (value.empty()) return err(std::string(what) + " is empty");
  if (value.size() > 64) return err(std::string(what) + " is longer than 64 characters");
  std::string out;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\')
      return err(std::string(what) + " contains a control character or backslash");
    if (c == ',') out += '\\';
    out += c;
  }
  return out;
}

// The issuer name of a certificate we sign must equal the CA's subject, attribute by attribute,
// so it is rebuilt from the parsed CA certificate rather than remembered separately.
Result<std::string> dn_string(const mbedtls_x509_name* name) {
  std::string out;
  for (; name != nullptr; name = name->next) {
    const char* short_name = nullptr;
    if (mbedtls_oid_get_attr_short_name(&name->oid, &short_name) != 0)
      return err("CA subject has an attribute mbedTLS cannot name");
    auto value = dn_value(
        std::string_view(reinterpret_cast<const char*>(name->val.p), name->val.len), "CA subject");
    if (!value) return err(value.error());
    if (!out.empty()) out += ',';
    out += std::string(short_name) + "=" + *value;
  }
  return out;
}

// --- certificate fields ---------------------------------------------------------------------

enum class Kind { Ca, Server, Device };

struct Issuer {
  mbedtls_pk_context* key;
  std::string name;
};

struct Subject {
  mbedtls_pk_context* key;  // only the public half is read
  std::string name;
  std::vector<std::string> dns_names;
};

// 16 random bytes with the top bit cleared (serials are positive INTEGERs) and the next bit set
// (so the value is never zero and always encodes in exactly 16 bytes).
Status set_random_serial(mbedtls_x509write_cert* w) {
  unsigned char bytes[16];
  if (int rc = os_rng(nullptr, bytes, sizeof bytes); rc != 0) return fail("serial number", rc);
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  Mpi serial;
  if (int rc = mbedtls_mpi_read_binary(serial.get(), bytes, sizeof bytes); rc != 0)
    return fail("serial number", rc);
  if (int rc = mbedtls_x509write_crt_set_serial(w, serial.get()); rc != 0)
    return fail("serial number", rc);
  return {};
}

std::string x509_time(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// Backdated by an hour so a peer whose clock lags a little still accepts a fresh certificate.
Status set_validity(mbedtls_x509write_cert* w, int valid_days) {
  if (valid_days < 1 || valid_days > 36500)
    return err("validity of " + std::to_string(valid_days) + " days is out of range (1..36500)");
  const std::time_t now = std::time(nullptr);
  const std::string from = x509_time(now - 3600);
  const std::string to = x509_time(now + std::time_t(valid_days) * 86400);
  if (int rc = mbedtls_x509write_crt_set_validity(w, from.c_str(), to.c_str()); rc != 0)
    return fail("validity period", rc);
  return {};
}

// extKeyUsage ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId. mbedTLS 2.28 has no writer for it.
Status set_ext_key_usage(mbedtls_x509write_cert* w, const char* oid, size_t oid_len) {
  unsigned char buf[32];
  unsigned char* p = buf + sizeof buf;
  int len = mbedtls_asn1_write_oid(&p, buf, oid, oid_len);
  if (len < 0) return fail("extended key usage", len);
  int hdr = mbedtls_asn1_write_len(&p, buf, static_cast<size_t>(len));
  if (hdr < 0) return fail("extended key usage", hdr);
  len += hdr;
  hdr = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (hdr < 0) return fail("extended key usage", hdr);
  len += hdr;
  int rc = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                               0, p, static_cast<size_t>(len));
  if (rc != 0) return fail("extended key usage", rc);
  return {};
}

constexpr unsigned char kDnsNameTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;
constexpr unsigned char kIpAddressTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;

// Writes the GeneralNames of one entry backwards (mbedTLS's ASN.1 writers fill from the end).
// An IP literal also gets an iPAddress entry: mbedTLS clients match it as dNSName text, while
// OpenSSL-based clients (curl, browsers on the API) only look at iPAddress.
int write_general_names(unsigned char** p, unsigned char* start, const std::string& name) {
  int len = 0, r = 0;
  unsigned char ip[16];
  size_t ip_len = 0;
  if (inet_pton(AF_INET, name.c_str(), ip) == 1)
    ip_len = 4;
  else if (inet_pton(AF_INET6, name.c_str(), ip) == 1)
    ip_len = 16;
  if (ip_len != 0) {
    if ((r = mbedtls_asn1_write_tagged_string(p, start, kIpAddressTag,
                                              reinterpret_cast<const char*>(ip), ip_len)) < 0)
      return r;
    len += r;
  }
  if ((r = mbedtls_asn1_write_tagged_string(p, start, kDnsNameTag, name.data(), name.size())) < 0)
    return r;
  return len + r;
}

Status check_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return err("subjectAltName entry has a bad length");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return err("subjectAltName entry '" + name + "' is not plain ASCII");
  }
  return {};
}

Status set_subject_alt_names(mbedtls_x509write_cert* w, const std::vector<std::string>& names) {
  size_t capacity = 16;
  for (const auto& n : names) {
    if (auto ok = check_dns_name(n); !ok) return ok;
    capacity += n.size() + 16 + 24;
  }
  std::vector<unsigned char> buf(capacity);
  unsigned char* start = buf.data();
  unsigned char* p = start + buf.size();
  int len = 0;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {  // backwards keeps the order
    int r = write_general_names(&p, start, *it);
    if (r < 0) return fail("subjectAltName", r);
    len += r;
  }
  int r = mbedtls_asn1_write_len(&p, start, static_cast<size_t>(len));
  if (r < 0) return fail("subjectAltName", r);
  len += r;
  r = mbedtls_asn1_write_tag(&p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (r < 0) return fail("subjectAltName", r);
  len += r;
  int rc = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                               p, static_cast<size_t>(len));
  if (rc != 0) return fail("subjectAltName", rc);
  return {};
}

// What each kind of certificate may do: the CA only signs certificates; the collector only
// authenticates as a TLS server, a device only as a TLS client (ECDHE-ECDSA needs
// digitalSignature).
Status set_usage(mbedtls_x509write_cert* w, Kind kind) {
  const bool ca = kind == Kind::Ca;
  if (int rc = mbedtls_x509write_crt_set_basic_constraints(w, ca ? 1 : 0, ca ? 0 : -1); rc != 0)
    return fail("basicConstraints", rc);
  const unsigned int ku = ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                             : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  if (int rc = mbedtls_x509write_crt_set_key_usage(w, ku); rc != 0) return fail("keyUsage", rc);
  if (kind == Kind::Server)
    return set_ext_key_usage(w, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
  if (kind == Kind::Device)
    return set_ext_key_usage(w, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
  return {};
}

Result<std::string> write_certificate(const Issuer& issuer, const Subject& subject, Kind kind,
                                      int valid_days) {
  CrtWriter w;
  mbedtls_x509write_crt_set_version(w.get(), MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(w.get(), MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(w.get(), subject.key);
  mbedtls_x509write_crt_set_issuer_key(w.get(), issuer.key);
  if (int rc = mbedtls_x509write_crt_set_subject_name(w.get(), subject.name.c_str()); rc != 0)
    return fail("subject name", rc);
  if (int rc = mbedtls_x509write_crt_set_issuer_name(w.get(), issuer.name.c_str()); rc != 0)
    return fail("issuer name", rc);
  if (auto ok = set_random_serial(w.get()); !ok) return err(ok.error());
  if (auto ok = set_validity(w.get(), valid_days); !ok) return err(ok.error());
  if (auto ok = set_usage(w.get(), kind); !ok) return err(ok.error());
  if (!subject.dns_names.empty())
    if (auto ok = set_subject_alt_names(w.get(), subject.dns_names); !ok) return err(ok.error());
  // Key identifiers let other TLS stacks (OpenSSL for the API) build the chain quickly.
  if (int rc = mbedtls_x509write_crt_set_subject_key_identifier(w.get()); rc != 0)
    return fail("subjectKeyIdentifier", rc);
  if (int rc = mbedtls_x509write_crt_set_authority_key_identifier(w.get()); rc != 0)
    return fail("authorityKeyIdentifier", rc);

  std::vector<unsigned char> pem(4096 + 2 * subject.name.size() + 64 * subject.dns_names.size());
  int rc = mbedtls_x509write_crt_pem(w.get(), pem.data(), pem.size(), os_rng, nullptr);
  if (rc != 0) return fail("cannot sign certificate", rc);
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

// The CA as a signer: its key must belong to its certificate, or every certificate it issues
// would fail to verify much later and far away.
struct LoadedCa {
  Crt cert;
  Pk key;
  std::string name;
};

Result<LoadedCa> load_ca(const CertAuthority& ca) {
  auto cert = parse_cert(ca.cert_pem, "CA certificate");
  if (!cert) return err(cert.error());
  auto key = parse_key(ca.key_pem, "CA key");
  if (!key) return err(key.error());
  if (int rc = mbedtls_pk_check_pair(&(*cert)->pk, key->get()); rc != 0)
    return fail("CA key does not belong to the CA certificate", rc);
  auto name = dn_string(&(*cert)->subject);
  if (!name) return err(name.error());
  return LoadedCa{std::move(*cert), std::move(*key), std::move(*name)};
}

// A CSR proves possession of its key only if its self-signature verifies over the
// CertificationRequestInfo; mbedtls_x509_csr_parse() does not check that.
Status check_csr_signature(mbedtls_x509_csr* csr) {
  if (csr->sig_md != MBEDTLS_MD_SHA256 && csr->sig_md != MBEDTLS_MD_SHA384 &&
      csr->sig_md != MBEDTLS_MD_SHA512)
    return err("CSR is signed with a weak or unknown hash");
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(csr->sig_md);
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  if (int rc = mbedtls_md(md, csr->cri.p, csr->cri.len, hash); rc != 0) return fail("CSR hash", rc);
  int rc = mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, &csr->pk, csr->sig_md, hash,
                                 mbedtls_md_get_size(md), csr->sig.p, csr->sig.len);
  if (rc != 0) return fail("CSR signature does not verify", rc);
  return {};
}

// Device keys are made by generate_key_pem(); refuse anything the TLS layer would not accept.
Status check_device_key(const mbedtls_pk_context* pk) {
  if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
    return err("CSR key is not an elliptic-curve key");
  const mbedtls_ecp_group_id curve = mbedtls_pk_ec(*pk)->grp.id;
  if (curve != MBEDTLS_ECP_DP_SECP256R1 && curve != MBEDTLS_ECP_DP_SECP384R1)
    return err("CSR key is not on P-256 or P-384");
  return {};
}

}  // namespace

// --- public API -----------------------------------------------------------------------------

Result<std::string> generate_key_pem() {
  Pk key;
  if (int rc = mbedtls_pk_setup(key.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)); rc != 0)
    return fail("cannot set up key", rc);
  if (int rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key.get()), os_rng,
                                   nullptr);
      rc != 0)
    return fail("cannot generate P-256 key", rc);
  unsigned char pem[1024];
  int rc = mbedtls_pk_write_key_pem(key.get(), pem, sizeof pem);
  std::string out = rc == 0 ? std::string(reinterpret_cast<const char*>(pem)) : std::string();
  mbedtls_platform_zeroize(pem, sizeof pem);  // the stack copy of a private key
  if (rc != 0) return fail("cannot encode key", rc);
  return out;
}

Result<CertAuthority> create_ca(const std::string& common_name, int valid_days) {
  auto cn = dn_value(common_name, "CA common name");
  if (!cn) return err(cn.error());
  auto key_pem = generate_key_pem();
  if (!key_pem) return err(key_pem.error());
  auto key = parse_key(*key_pem, "new CA key");
  if (!key) return err(key.error());
  const std::string name = "CN=" + *cn + ",O=Vigil";
  auto cert = write_certificate(Issuer{key->get(), name}, Subject{key->get(), name, {}}, Kind::Ca,
                                valid_days);
  if (!cert) return err(cert.error());
  return CertAuthority{std::move(*cert), std::move(*key_pem)};
}

Result<std::string> issue_server_cert(const CertAuthority& ca, const std::string& server_key_pem,
                                      const std::string& common_name,
                                      const std::vector<std::string>& dns_names, int valid_days) {
  auto cn = dn_value(common_name, "server common name");
  if (!cn) return err(cn.error());
  if (dns_names.empty()) return err("a server certificate needs at least one subjectAltName");
  auto signer = load_ca(ca);
  if (!signer) return err(signer.error());
  auto key = parse_key(server_key_pem, "server key");
  if (!key) return err(key.error());
  return write_certificate(Issuer{signer->key.get(), signer->name},
                           Subject{key->get(), "CN=" + *cn + ",O=Vigil", dns_names}, Kind::Server,
                           valid_days);
}

Result<std::string> make_csr(const std::string& key_pem, const std::string& common_name) {
  auto cn = dn_value(common_name, "CSR common name");
  if (!cn) return err(cn.error());
  auto key = parse_key(key_pem, "device key");
  if (!key) return err(key.error());
  CsrWriter w;
  mbedtls_x509write_csr_set_md_alg(w.get(), MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(w.get(), key->get());
  if (int rc = mbedtls_x509write_csr_set_subject_name(w.get(), ("CN=" + *cn).c_str()); rc != 0)
    return fail("CSR subject", rc);
  unsigned char pem[4096];
  if (int rc = mbedtls_x509write_csr_pem(w.get(), pem, sizeof pem, os_rng, nullptr); rc != 0)
    return fail("cannot write CSR", rc);
  return std::string(reinterpret_cast<const char*>(pem));
}

Result<std::string> sign_device_csr(const CertAuthority& ca, std::string_view csr_pem,
                                    const std::string& device_id, int valid_days) {
  auto cn = dn_value(device_id, "device id");
  if (!cn) return err(cn.error());
  Csr csr;
  const std::string pem(csr_pem);
  if (int rc = mbedtls_x509_csr_parse(csr.get(), pem_bytes(pem), pem.size() + 1); rc != 0)
    return fail("cannot parse CSR", rc);
  if (auto ok = check_csr_signature(csr.get()); !ok) return err(ok.error());
  if (auto ok = check_device_key(&csr->pk); !ok) return err(ok.error());
  auto signer = load_ca(ca);
  if (!signer) return err(signer.error());
  // Only the CSR's public key is used; the subject is the one the collector chose.
  return write_certificate(Issuer{signer->key.get(), signer->name},
                           Subject{&csr->pk, "CN=" + *cn + ",O=Vigil", {}}, Kind::Device,
                           valid_days);
}

Result<std::string> certificate_common_name(std::string_view cert_pem) {
  auto crt = parse_cert(cert_pem, "certificate");
  if (!crt) return err(crt.error());
  std::string cn = common_name_of(&(*crt)->subject);
  if (cn.empty()) return err("certificate has no common name");
  return cn;
}

Status verify_certificate(std::string_view cert_pem, std::string_view ca_pem) {
  auto crt = parse_cert(cert_pem, "certificate");
  if (!crt) return err(crt.error());
  auto ca = parse_cert(ca_pem, "CA certificate");
  if (!ca) return err(ca.error());
  uint32_t flags = 0;
  int rc = mbedtls_x509_crt_verify(crt->get(), ca->get(), nullptr, nullptr, &flags, nullptr,
                                   nullptr);
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
    return err("certificate does not verify against the CA: " + verify_reasons(flags));
  if (rc != 0) return fail("certificate verification failed", rc);
  return {};
}

}  // namespace vigil::pki
