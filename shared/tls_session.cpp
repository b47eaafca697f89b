#include "shared/tls_session.h"

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "shared/mbed_util.h"

namespace vigil {
namespace {

// Shared mbedTLS plumbing: owning contexts, the RNG callback, error text (shared/mbed_util.h).
using namespace vigil::mbed;

using SslConfig =
    mbed::Context<mbedtls_ssl_config, mbedtls_ssl_config_init, mbedtls_ssl_config_free>;
using SslContext = mbed::Context<mbedtls_ssl_context, mbedtls_ssl_init, mbedtls_ssl_free>;

// --- policy ---------------------------------------------------------------------------------

// ECDHE (forward secrecy) with AEAD only, in server preference order. 0-terminated; mbedTLS
// keeps the pointer, so these live for the whole program.
constexpr int kCipherSuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

// Key exchange groups, and the curves a certificate key may use.
constexpr mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

constexpr int kSigHashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512,
                              MBEDTLS_MD_NONE};

// Certificate chains: SHA-2 signatures, EC keys on P-256/P-384 or RSA >= 2048 bits.
constexpr mbedtls_x509_crt_profile kCertProfile = {
    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSA),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) | MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1),
    2048,
};

// --- small helpers --------------------------------------------------------------------------

const char* alert_name(unsigned char code) {
  switch (code) {
    case MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE: return "unexpected_message";
    case MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC: return "bad_record_mac";
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return "handshake_failure";
    case MBEDTLS_SSL_ALERT_MSG_NO_CERT: return "no_certificate";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT: return "bad_certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT: return "unsupported_certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED: return "certificate_revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED: return "certificate_expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN: return "certificate_unknown";
    case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER: return "illegal_parameter";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA: return "unknown_ca";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return "access_denied";
    case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR: return "decode_error";
    case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR: return "decrypt_error";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION: return "protocol_version";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY: return "insufficient_security";
    case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR: return "internal_error";
    case MBEDTLS_SSL_ALERT_MSG_INAPROPRIATE_FALLBACK: return "inappropriate_fallback";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME: return "unrecognized_name";
    default: return "unknown alert";
  }
}

bool is_certificate_alert(unsigned char code) {
  switch (code) {
    case MBEDTLS_SSL_ALERT_MSG_NO_CERT:
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return true;
    default: return false;
  }
}

}  // namespace

// --- TlsConfig ------------------------------------------------------------------------------

// Shared by sessions on many threads, and safe to be because nothing here changes after
// create(): the SSL contexts only read the config (they hold a const pointer), the RNG has no
// state, certificate verification only reads the CA chain, and signing with own_key goes through
// mbedtls_pk_sign(), which for EC keys works on a private copy of the key (so the group's lazily
// built comb table, which mbedTLS 2.28 caches without a lock, is never written here) and for RSA
// keys takes the context's mutex (Debian builds mbedTLS with MBEDTLS_THREADING_PTHREAD).
struct TlsConfig::Impl {
  TlsRole role = TlsRole::Client;
  ClientAuth client_auth = ClientAuth::Required;
  std::string server_name;
  Crt ca;
  Crt own_cert;
  Pk own_key;
  bool has_own_cert = false;
  // Declared last so it is freed first: it points at the certificates and key above.
  SslConfig conf;
};

namespace {

Status check_options(const TlsOptions& o) {
  const bool server = o.role == TlsRole::Server;
  if (server && (o.cert_pem.empty() || o.key_pem.empty()))
    return err("TLS server needs a certificate and a key");
  if (o.cert_pem.empty() != o.key_pem.empty())
    return err("TLS certificate and key must be given together");
  if (!server && o.server_name.empty())
    return err("TLS client needs the server name to verify the server certificate against");
  const bool needs_ca = !server || o.client_auth != ClientAuth::None;
  if (needs_ca && o.ca_pem.empty()) return err("TLS configuration needs the CA certificate");
  return {};
}

// The protocol policy of the header: TLS 1.2 only, ECDHE + AEAD, no tickets, no renegotiation.
Status apply_policy(mbedtls_ssl_config* conf, TlsRole role) {
  const int endpoint = role == TlsRole::Server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT;
  if (int rc = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT);
      rc != 0)
    return fail("TLS configuration defaults", rc);
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf, kCipherSuites);
  mbedtls_ssl_conf_curves(conf, kCurves);
  mbedtls_ssl_conf_sig_hashes(conf, kSigHashes);
  mbedtls_ssl_conf_cert_profile(conf, &kCertProfile);
  mbedtls_ssl_conf_rng(conf, os_rng, nullptr);
  // Resumption would let a connection skip the certificate check that revocation relies on.
  mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  return {};
}

Status load_identity(TlsConfig::Impl& c, const TlsOptions& o) {
  if (!o.ca_pem.empty()) {
    if (int rc = mbedtls_x509_crt_parse(c.ca.get(), pem_bytes(o.ca_pem), o.ca_pem.size() + 1))
      return fail("cannot parse the TLS CA certificate", rc);
    mbedtls_ssl_conf_ca_chain(c.conf.get(), c.ca.get(), nullptr);
  }
  if (o.cert_pem.empty()) return {};
  if (int rc = mbedtls_x509_crt_parse(c.own_cert.get(), pem_bytes(o.cert_pem),
                                      o.cert_pem.size() + 1))
    return fail("cannot parse the TLS certificate", rc);
  if (int rc = mbedtls_pk_parse_key(c.own_key.get(), pem_bytes(o.key_pem), o.key_pem.size() + 1,
                                    nullptr, 0))
    return fail("cannot parse the TLS private key", rc);
  if (int rc = mbedtls_pk_check_pair(&c.own_cert->pk, c.own_key.get()))
    return fail("TLS private key does not belong to the certificate", rc);
  // mbedTLS would silently skip such a certificate at every handshake and report "no usable
  // cipher suite"; say what is wrong once, at startup.
  if (o.role == TlsRole::Server &&
      mbedtls_x509_crt_check_extended_key_usage(c.own_cert.get(), MBEDTLS_OID_SERVER_AUTH,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0)
    return err("TLS server certificate is not for servers (extendedKeyUsage lacks serverAuth)");
  if (int rc = mbedtls_ssl_conf_own_cert(c.conf.get(), c.own_cert.get(), c.own_key.get()))
    return fail("cannot use the TLS certificate", rc);
  c.has_own_cert = true;
  return {};
}

int authmode_for(const TlsOptions& o) {
  if (o.role == TlsRole::Client) return MBEDTLS_SSL_VERIFY_REQUIRED;
  switch (o.client_auth) {
    case ClientAuth::None: return MBEDTLS_SSL_VERIFY_NONE;
    case ClientAuth::Optional: return MBEDTLS_SSL_VERIFY_OPTIONAL;
    case ClientAuth::Required: return MBEDTLS_SSL_VERIFY_REQUIRED;
  }
  return MBEDTLS_SSL_VERIFY_REQUIRED;
}

}  // namespace

TlsConfig::TlsConfig(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsConfig::~TlsConfig() = default;

Result<std::shared_ptr<const TlsConfig>> TlsConfig::create(const TlsOptions& options) {
  if (auto ok = check_options(options); !ok) return err(ok.error());
  auto impl = std::make_unique<Impl>();
  impl->role = options.role;
  impl->client_auth = options.client_auth;
  impl->server_name = options.server_name;
  if (auto ok = apply_policy(impl->conf.get(), options.role); !ok) return err(ok.error());
  if (auto ok = load_identity(*impl, options); !ok) return err(ok.error());
  mbedtls_ssl_conf_authmode(impl->conf.get(), authmode_for(options));
  return std::shared_ptr<const TlsConfig>(new TlsConfig(std::move(impl)));
}

// --- TlsSession -----------------------------------------------------------------------------

struct TlsSession::Impl {
  std::shared_ptr<const TlsConfig> config;  // outlives ssl, which points into it
  SslContext ssl;
  State state = State::Handshaking;
  std::string error;
  // Ciphertext fed but not yet consumed by mbedTLS starts at in_pos.
  std::string in;
  size_t in_pos = 0;
  std::string out;
  // Every verification flag seen in the peer's chain, for error messages (mbedTLS overwrites
  // its own copy with all-ones when the verify callback aborts).
  uint32_t verify_flags = 0;
  bool close_sent = false;

  const TlsConfig::Impl& cfg() const { return config->impl(); }
  bool is_server() const { return cfg().role == TlsRole::Server; }
  const char* peer() const { return is_server() ? "client" : "server"; }

  State fail(std::string message) {
    state = State::Failed;
    error = std::move(message);
    return state;
  }
  void send_alert(unsigned char code) {
    mbedtls_ssl_send_alert_message(ssl.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, code);
  }
  uint32_t all_verify_flags() const;
  std::string describe_handshake_error(int rc) const;
  std::string describe_alert(unsigned char code) const;
  State finish_handshake();
};

namespace {

// The transport as mbedTLS sees it: output appends to a buffer, input drains the fed bytes.
// Neither ever blocks; "no input yet" is WANT_READ, which unwinds mbedTLS back to the caller.
int bio_send(void* ctx, const unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession::Impl*>(ctx);
  s->out.append(reinterpret_cast<const char*>(buf), len);
  return static_cast<int>(len);
}

int bio_recv(void* ctx, unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession::Impl*>(ctx);
  const size_t available = s->in.size() - s->in_pos;
  if (available == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  const size_t n = std::min(len, available);
  std::memcpy(buf, s->in.data() + s->in_pos, n);
  s->in_pos += n;
  if (s->in_pos == s->in.size()) {
    s->in.clear();
    s->in_pos = 0;
  }
  return static_cast<int>(n);
}

// Called by mbedTLS for each certificate of the peer's chain. Records the flags for error
// messages and, on a server, adds the client-certificate usage checks. Under VERIFY_OPTIONAL
// mbedTLS would otherwise let a client with a bad certificate through (flags only recorded);
// returning an error here makes it a fatal handshake failure with an alert, which is what
// ClientAuth::Optional promises ("no certificate" is fine, a bad one is not).
int verify_peer(void* ctx, mbedtls_x509_crt* crt, int depth, uint32_t* flags) {
  auto* s = static_cast<TlsSession::Impl*>(ctx);
  if (s->is_server() && depth == 0) {
    if (mbedtls_x509_crt_check_extended_key_usage(crt, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0)
      *flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
    if (mbedtls_x509_crt_check_key_usage(crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0)
      *flags |= MBEDTLS_X509_BADCERT_KEY_USAGE;
  }
  s->verify_flags |= *flags;
  const bool optional = s->is_server() && s->cfg().client_auth == ClientAuth::Optional;
  return (optional && *flags != 0) ? MBEDTLS_ERR_X509_FATAL_ERROR : 0;
}

}  // namespace

uint32_t TlsSession::Impl::all_verify_flags() const {
  const uint32_t result = mbedtls_ssl_get_verify_result(ssl.get());
  // All-ones means "verification aborted" (by verify_peer), not every reason at once.
  return result == UINT32_MAX ? verify_flags : (result | verify_flags);
}

std::string TlsSession::Impl::describe_handshake_error(int rc) const {
  const uint32_t flags = all_verify_flags() & ~uint32_t(MBEDTLS_X509_BADCERT_SKIP_VERIFY);
  const bool cert_error = rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
                          rc == MBEDTLS_ERR_X509_FATAL_ERROR ||
                          rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE;
  std::string why;
  if (cert_error && flags != 0) {
    why = std::string(peer()) + " certificate rejected: " + verify_reasons(flags);
    // FATAL_ERROR here only means verify_peer() stopped the handshake; its mbedTLS text
    // ("chain too long or callback failed") would mislead.
    if (rc == MBEDTLS_ERR_X509_FATAL_ERROR) return "TLS handshake failed: " + why;
  } else if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
    why = describe_alert(ssl->in_msg[1]);
  } else if (rc == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION) {
    why = is_server() ? "the client offered a protocol older than TLS 1.2 (TLS 1.0 or 1.1?), "
                        "and only TLS 1.2 is accepted"
                      : "the server does not speak TLS 1.2, the only version accepted";
  } else if (rc == MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN ||
             rc == MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE) {
    why = "no cipher suite in common; only ECDHE with AES-GCM or ChaCha20-Poly1305 is accepted";
  } else if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
    why = "no client certificate, and this server requires one";
  } else {
    why = std::string("the ") + peer() + " did not complete a TLS 1.2 handshake";
  }
  return "TLS handshake failed: " + why + " [mbedtls: " + mbed::error_text(rc) + "]";
}

// The peer's fatal alert, with a hint where the likely cause is on this side.
std::string TlsSession::Impl::describe_alert(unsigned char code) const {
  std::string why = std::string("the ") + peer() + " refused the connection with alert '" +
                    alert_name(code) + "'";
  if (is_server()) return why;
  if (is_certificate_alert(code)) return why + " (is this device enrolled and not revoked?)";
  if (code == MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE && !cfg().has_own_cert)
    return why + " (this client has no certificate; the server may require one)";
  if (code == MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION)
    return why + " (it does not accept TLS 1.2?)";
  return why;
}

// mbedTLS finished the handshake; apply what it cannot check by itself.
TlsSession::State TlsSession::Impl::finish_handshake() {
  // Safety net for ClientAuth::Optional: verify_peer already aborts on a bad chain, but any
  // other recorded problem with a certificate that was sent must not pass either.
  if (is_server() && mbedtls_ssl_get_peer_cert(ssl.get()) != nullptr &&
      mbedtls_ssl_get_verify_result(ssl.get()) != 0) {
    send_alert(MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
    return fail("TLS handshake failed: client certificate rejected: " +
                verify_reasons(all_verify_flags()));
  }
  state = State::Open;
  return state;
}

TlsSession::TlsSession(std::shared_ptr<const TlsConfig> config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  if (!impl_->config) {
    impl_->fail("TLS session created without a configuration");
    return;
  }
  mbedtls_ssl_context* ssl = impl_->ssl.get();
  if (int rc = mbedtls_ssl_setup(ssl, impl_->cfg().conf.get()); rc != 0) {
    impl_->fail("cannot set up TLS session: " + mbed::error_text(rc));
    return;
  }
  if (!impl_->is_server()) {
    // Also turns on the server-name check in the certificate verification.
    if (int rc = mbedtls_ssl_set_hostname(ssl, impl_->cfg().server_name.c_str()); rc != 0) {
      impl_->fail("cannot set TLS server name: " + mbed::error_text(rc));
      return;
    }
  }
  mbedtls_ssl_set_bio(ssl, impl_.get(), bio_send, bio_recv, nullptr);
  mbedtls_ssl_set_verify(ssl, verify_peer, impl_.get());
}

TlsSession::~TlsSession() = default;

void TlsSession::feed(std::string_view ciphertext) {
  Impl& s = *impl_;
  if (s.state == State::Failed) return;  // nothing will read it any more
  // Drop the consumed prefix once it dominates, so the buffer stays near one flight in size.
  if (s.in_pos > 0 && s.in_pos * 2 >= s.in.size()) {
    s.in.erase(0, s.in_pos);
    s.in_pos = 0;
  }
  s.in.append(ciphertext);
}

std::string TlsSession::take_output() { return std::exchange(impl_->out, std::string()); }

bool TlsSession::has_output() const { return !impl_->out.empty(); }

TlsSession::State TlsSession::handshake() {
  Impl& s = *impl_;
  if (s.state != State::Handshaking) return s.state;
  // mbedtls_ssl_handshake() itself steps through the handshake until it is done, needs more
  // input (WANT_READ; WANT_WRITE cannot happen as output only appends to a buffer) or fails.
  const int rc = mbedtls_ssl_handshake(s.ssl.get());
  if (rc == 0) return s.finish_handshake();
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return s.state;
  // Some failures (no client certificate, bytes that are not TLS at all) leave mbedTLS silent;
  // tell the peer instead of leaving it waiting. A peer that sent an alert needs none back.
  if (s.ssl->out_msgtype != MBEDTLS_SSL_MSG_ALERT && rc != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
    s.send_alert(MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
  return s.fail(s.describe_handshake_error(rc));
}

TlsSession::State TlsSession::state() const { return impl_->state; }

Status TlsSession::write(std::string_view plaintext) {
  Impl& s = *impl_;
  if (s.state != State::Open) return err("TLS write on a session that is not open");
  auto p = reinterpret_cast<const unsigned char*>(plaintext.data());
  size_t left = plaintext.size();
  // mbedtls_ssl_write() takes at most one record (16 KB) per call.
  while (left > 0) {
    const int rc = mbedtls_ssl_write(s.ssl.get(), p, left);
    if (rc > 0) {
      p += rc;
      left -= static_cast<size_t>(rc);
      continue;
    }
    // The output buffer never refuses bytes, so anything else is a real failure.
    s.fail("TLS write failed: " + mbed::error_text(rc));
    return err(s.error);
  }
  return {};
}

Result<std::string> TlsSession::read() {
  Impl& s = *impl_;
  if (s.state == State::Closed) return std::string();
  if (s.state == State::Failed) return err(s.error);
  if (s.state != State::Open) return err("TLS read before the handshake completed");
  std::string plaintext;
  unsigned char buf[16384];
  for (;;) {
    const int rc = mbedtls_ssl_read(s.ssl.get(), buf, sizeof buf);
    if (rc > 0) {
      plaintext.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(rc));
    } else if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == 0) {
      return plaintext;
    } else if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      s.state = State::Closed;
      return plaintext;
    } else if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
      // Also how a client learns that the server refused its certificate only after the
      // handshake (the post-handshake check in finish_handshake()).
      s.fail("TLS connection ended: " + s.describe_alert(s.ssl->in_msg[1]));
      return err(s.error);
    } else {
      s.fail("TLS record error: " + mbed::error_text(rc));
      return err(s.error);
    }
  }
}

void TlsSession::close() {
  Impl& s = *impl_;
  if (s.state == State::Failed) return;
  // close_notify exists only once the handshake is over (mbedTLS does nothing before); a
  // session closed by the peer still answers with its own, as TLS 1.2 asks.
  if (!s.close_sent && (s.state == State::Open || s.state == State::Closed)) {
    mbedtls_ssl_close_notify(s.ssl.get());
    s.close_sent = true;
  }
  s.state = State::Closed;
}

const std::string& TlsSession::error() const { return impl_->error; }

bool TlsSession::peer_has_certificate() const {
  const Impl& s = *impl_;
  if (s.state != State::Open && s.state != State::Closed) return false;
  return mbedtls_ssl_get_peer_cert(s.ssl.get()) != nullptr &&
         mbedtls_ssl_get_verify_result(s.ssl.get()) == 0;
}

std::string TlsSession::peer_common_name() const {
  if (!peer_has_certificate()) return {};
  return common_name_of(&mbedtls_ssl_get_peer_cert(impl_->ssl.get())->subject);
}

std::string TlsSession::cipher_suite() const {
  const Impl& s = *impl_;
  if (s.state != State::Open && s.state != State::Closed) return {};
  return mbedtls_ssl_get_ciphersuite(s.ssl.get());
}

std::string TlsSession::protocol_version() const {
  const Impl& s = *impl_;
  if (s.state != State::Open && s.state != State::Closed) return {};
  return mbedtls_ssl_get_version(s.ssl.get());
}

}  // namespace vigil
