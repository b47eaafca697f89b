// EmptyPolicyDirectory: a PolicyDirectory with nothing in it (no policies, people or rules), so
// the engine runs and raises nothing until the SQLite policy store is wired in at the merge.
#pragma once
#include "collector/policy/directory.h"

namespace vigil::collector::policy {

class EmptyPolicyDirectory final : public PolicyDirectory {
 public:
  std::vector<Policy> policies() const override { return {}; }
  std::vector<HrRecord> hr_records() const override { return {}; }
  std::vector<UserAttributes> user_attributes() const override { return {}; }
  std::vector<DlpRule> dlp_rules() const override { return {}; }
  std::uint64_t generation() const override { return 0; }
};

}  // namespace vigil::collector::policy
