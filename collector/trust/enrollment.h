// Enrollment: turns a device's CSR plus a one-time token into a client certificate.
// The token is checked and consumed only after the CSR proved valid, so a broken request does
// not burn a use. The device id is chosen here, never by the device.
#pragma once
#include "collector/store/event_store.h"
#include "shared/pki.h"
#include "vigil.pb.h"

namespace vigil::collector {

class Enrollment {
 public:
  Enrollment(EventStore& store, pki::CertAuthority ca, int device_cert_days = 825)
      : store_(store), ca_(std::move(ca)), days_(device_cert_days) {}
  // Never throws; failures are EnrollResponse{ok=false, error=<reason for the agent's user>}.
  v1::EnrollResponse enroll(const v1::EnrollRequest& request, const std::string& peer);
  const std::string& ca_pem() const { return ca_.cert_pem; }

 private:
  EventStore& store_;
  pki::CertAuthority ca_;
  int days_;
};

}  // namespace vigil::collector
