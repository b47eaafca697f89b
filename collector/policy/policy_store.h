// SqlitePolicyStore: policies, DLP rules, HR records and user attributes in the collector's
// SQLite database (DATA_DIR/vigil.db; tables policies, policy_dlp_rules, hr_records,
// user_attributes), read by the policy engine as a PolicyDirectory and written by the API, the
// CLI and the import drop directory.
//
// Promises:
// - Thread-safe. Writes are serialized by one mutex and each is one transaction: an HR or
//   attributes import of a whole file commits all its rows or none.
// - Reads never touch SQLite: they copy an in-memory snapshot rebuilt from the database after
//   every committed write, so the engine's reads are cheap and cannot fail.
// - generation() grows by one with every committed change (never on a failed or empty one).
// - Ids are "p-<n>" for policies and "d-<n>" for DLP rules, never reused (also across restarts).
//   Names are unique per kind. Policy versions start at 1 and grow with each update.
// - HR rows are keyed by (user, event, date) and attributes by user: importing the same rows
//   again changes nothing (counted as unchanged, generation unchanged).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/policy/directory.h"
#include "shared/result.h"

namespace vigil::collector::policy {

// The outcome of a write that can collide with what is stored.
enum class WriteOutcome { Ok, NotFound, NameTaken };

template <typename T>
struct Written {
  WriteOutcome outcome = WriteOutcome::Ok;
  T value;  // what is stored now (when Ok)
};

struct ImportCounts {
  std::size_t imported = 0;   // new rows
  std::size_t updated = 0;    // rows that existed and changed
  std::size_t unchanged = 0;  // rows that existed exactly so
};

class SqlitePolicyStore final : public PolicyDirectory {
 public:
  // path: the collector's database. Creates the tables when missing.
  static Result<std::shared_ptr<SqlitePolicyStore>> open(const std::string& path);
  ~SqlitePolicyStore() override;

  // PolicyDirectory.
  std::vector<Policy> policies() const override;
  std::vector<HrRecord> hr_records() const override;
  std::vector<UserAttributes> user_attributes() const override;
  std::vector<DlpRule> dlp_rules() const override;
  std::uint64_t generation() const override { return generation_.load(); }

  std::optional<Policy> policy(const std::string& id) const;
  std::optional<DlpRule> dlp_rule(const std::string& id) const;

  // Policies: id, version and times are assigned here (what is passed in for them is ignored).
  Result<Written<Policy>> create_policy(Policy policy, std::int64_t now_ns);
  Result<Written<Policy>> update_policy(const std::string& id, Policy policy, std::int64_t now_ns);
  Result<bool> delete_policy(const std::string& id);  // false: no such policy

  Result<Written<DlpRule>> create_dlp_rule(DlpRule rule);
  Result<Written<DlpRule>> update_dlp_rule(const std::string& id, DlpRule rule);
  Result<bool> delete_dlp_rule(const std::string& id);

  // One transaction. replace: the rows given become the whole table (rows not given are removed).
  Result<ImportCounts> upsert_hr_records(const std::vector<HrRecord>& records, bool replace = false);
  Result<ImportCounts> upsert_user_attributes(const std::vector<UserAttributes>& attributes, bool replace = false);

 private:
  struct Impl;
  explicit SqlitePolicyStore(std::unique_ptr<Impl> impl);
  Status reload_locked();  // rebuilds the snapshot; caller holds write_mu_

  std::unique_ptr<Impl> impl_;
  mutable std::mutex write_mu_;   // one writer at a time (and the connection it uses)
  mutable std::mutex snap_mu_;    // guards the snapshot
  struct Snapshot {
    std::vector<Policy> policies;
    std::vector<HrRecord> hr;
    std::vector<UserAttributes> attributes;
    std::vector<DlpRule> dlp;
  };
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<const Snapshot> snapshot() const;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace vigil::collector::policy
