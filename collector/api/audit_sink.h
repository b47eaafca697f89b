// Where the API reports what callers did, for the audit log (collector/audit implements it).
//
// The handler records, for every route that changes something (any method but GET), the caller,
// where from, the route, its target and the HTTP status it answered — including refusals (401,
// 403), so failed attempts are visible too. Routes that read sensitive things (content, exports,
// name reveals) record them themselves through ApiHandler::audit().
#pragma once
#include <cstdint>
#include <string>

#include "shared/result.h"

namespace vigil::collector {

struct AuditEntry {
  std::string actor;    // caller name; "" when the request was not authenticated
  std::string remote;   // peer address
  std::string action;   // "POST /api/v1/policies", or a named action such as "reveal_names"
  std::string target;   // the path, or the object acted on (case id, export name, user)
  int status = 0;       // HTTP status answered
  std::string detail;   // short, never secrets or request bodies
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Durable before it returns; may block (it is called from storage jobs and I/O threads alike,
  // so implementations must be thread-safe).
  virtual Status record(const AuditEntry& entry) = 0;
};

}  // namespace vigil::collector
