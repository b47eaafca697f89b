// PolicyDirectory: what the policy engine reads about policies, people and DLP rules, whoever
// stores them (collector/policy/policy_store: SQLite in the collector's data directory). The
// engine takes snapshots and reloads when generation() changes, so an import or a policy edit
// applies to the next events without a restart.
// Implementations are thread-safe: the API writes while the engine reads.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collector/policy/model.h"

namespace vigil::collector::policy {

class PolicyDirectory {
 public:
  virtual ~PolicyDirectory() = default;
  virtual std::vector<Policy> policies() const = 0;
  virtual std::vector<HrRecord> hr_records() const = 0;
  virtual std::vector<UserAttributes> user_attributes() const = 0;
  virtual std::vector<DlpRule> dlp_rules() const = 0;
  // Grows with every change to any of the above.
  virtual std::uint64_t generation() const = 0;
};

}  // namespace vigil::collector::policy
