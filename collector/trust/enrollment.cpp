#include "collector/trust/enrollment.h"

#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace {
v1::EnrollResponse refuse(const std::string& why, const std::string& peer) {
  log::warn("enroll", "enrollment refused", {{"peer", peer}, {"reason", why}});
  v1::EnrollResponse r;
  r.set_ok(false);
  r.set_error(why);
  return r;
}

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) { out.push_back(d[c >> 4]); out.push_back(d[c & 15]); }
  return out;
}
}  // namespace

v1::EnrollResponse Enrollment::enroll(const v1::EnrollRequest& req, const std::string& peer) {
  if (req.token().empty() || req.token().size() > 256) return refuse("enrollment token is missing or malformed", peer);
  if (req.csr_pem().empty() || req.csr_pem().size() > 16384) return refuse("certificate request is missing or too large", peer);
  if (req.hostname().size() > 255 || req.os().size() > 512 || req.agent_version().size() > 64)
    return refuse("host description fields are too long", peer);

  std::string device_id = "dev-" + hex(crypto::random_bytes(8));
  auto cert = pki::sign_device_csr(ca_, req.csr_pem(), device_id, days_);
  if (!cert) return refuse("certificate request rejected: " + cert.error(), peer);

  auto check = store_.consume_enroll_token(crypto::sha256_hex(req.token()), now_ns());
  if (!check) return refuse("collector could not check the token: " + check.error(), peer);
  switch (*check) {
    case TokenCheck::Accepted: break;
    case TokenCheck::Unknown: return refuse("enrollment token is unknown (mint one with `vigilctl enroll-token create`)", peer);
    case TokenCheck::Expired: return refuse("enrollment token has expired", peer);
    case TokenCheck::UsedUp: return refuse("enrollment token has no uses left", peer);
  }

  DeviceRecord dev;
  dev.device_id = device_id;
  dev.hostname = req.hostname();
  dev.os = req.os();
  dev.agent_version = req.agent_version();
  dev.enrolled_ns = now_ns();
  if (auto s = store_.register_device(dev); !s) return refuse("collector could not register the device: " + s.error(), peer);

  log::info("enroll", "device enrolled", {{"device_id", device_id}, {"hostname", req.hostname()}, {"peer", peer}});
  v1::EnrollResponse r;
  r.set_ok(true);
  r.set_device_id(device_id);
  r.set_cert_pem(*cert);
  r.set_ca_pem(ca_.cert_pem);
  return r;
}

}  // namespace vigil::collector
