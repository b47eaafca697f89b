// Turns a bearer token into a Caller (collector/auth implements it with accounts and roles).
#pragma once
#include <string_view>

#include "collector/api/api_access.h"
#include "shared/result.h"

namespace vigil::collector {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The caller the token stands for, or the reason it does not stand for anyone (unknown,
  // expired, revoked, account disabled) — said to the client in the 401. Thread-safe; may block
  // briefly (a lookup by the token's hash).
  virtual Result<Caller> authenticate_token(std::string_view token) const = 0;
};

}  // namespace vigil::collector
