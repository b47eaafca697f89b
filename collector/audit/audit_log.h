// AuditLog: the collector's append-only, tamper-evident audit log (docs/AUDIT.md).
//
// Files in the data dir (all 0600):
//   audit.db    SQLite, one row per record, each chained to the one before (audit_chain.h)
//   audit.key   the HMAC key; whoever edits audit.db without it cannot forge a verifying chain
//   audit.head  the id, hash and keyed MAC of the last record, so cutting off the tail shows
//
// Promises:
// - record() is durable (committed, head rewritten with fsync) before it returns; thread-safe.
// - Records are never updated or deleted by this code; verify() walks the whole chain and names
//   the first record that does not check out, and why.
// - 401s are rate-limited per remote host (refusal_limiter.h): one record per host per minute,
//   the rest counted into one summary record (count > 1), so a flood cannot fill the disk.
// - open() refuses a log whose tail is missing (the head names a record the database lacks),
//   rather than start writing over the evidence: the operator moves the files aside.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/api/audit_sink.h"
#include "collector/audit/audit_chain.h"
#include "collector/audit/refusal_limiter.h"
#include "shared/result.h"

namespace vigil::collector::audit {

struct AuditQuery {
  std::optional<std::string> actor;          // exact
  std::optional<std::string> action;         // prefix ("POST " or "reveal_names")
  std::optional<std::string> target;         // prefix
  std::optional<std::int64_t> since_ns;      // inclusive
  std::optional<std::int64_t> until_ns;      // exclusive
  std::optional<std::int64_t> before_id;     // paging: records with a smaller id
  std::size_t limit = 100;
};

struct AuditPage {
  std::vector<AuditRecord> records;          // newest first
  std::optional<std::int64_t> next_before;   // set when older matches remain
};

struct VerifyReport {
  bool ok = true;
  std::int64_t records = 0;                  // records checked
  std::int64_t head_id = 0;                  // what audit.head names (0: none)
  std::int64_t broken_id = 0;                // the first record that does not check out
  std::string reason;                        // why, in words
};

struct AuditLogOptions {
  std::int64_t refusal_window_ns = 60'000'000'000LL;
  std::size_t refusal_max_hosts = 10000;
};

class AuditLog final : public AuditSink {
 public:
  // dir: the data dir; audit.db, audit.key and audit.head are created there when missing.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& dir, AuditLogOptions options = {});
  ~AuditLog() override;  // writes summaries of refusals still held back

  Status record(const AuditEntry& entry) override;
  Result<AuditPage> list(const AuditQuery& query);
  Result<VerifyReport> verify();

  struct Impl;

 private:
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
};

// Verifies the files in dir without opening them for writing (vigilctl-less checks, tests).
Result<VerifyReport> verify_audit_files(const std::string& dir);

}  // namespace vigil::collector::audit
