// CaseStore: SQLite persistence of triage decisions, cases, notes, notice templates and notices
// (DATA_DIR/cases.db, its own file so case work never contends with ingest).
//
// Promises:
// - Each write is one transaction: a bulk triage writes every alert's row (and the new case) or
//   none of them.
// - It stores what it is given; the rules (who may be triaged, which transitions are allowed)
//   are CaseService's. Uniqueness the schema can enforce it does (one triage row per alert, one
//   template per name), so even a bug upstream cannot triage an alert twice.
// - Thread-safe (one mutex around one connection). New files are created 0600.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collector/cases/case_model.h"
#include "shared/result.h"

namespace vigil::collector::cases {

struct CaseFilter {
  std::optional<CaseStatus> status;
  std::optional<std::int64_t> opened_since, opened_until, updated_since, updated_until;  // [since, until)
};

class CaseStore {
 public:
  static Result<std::unique_ptr<CaseStore>> open(const std::string& path);
  ~CaseStore();

  Result<std::vector<TriageRecord>> triage_records();
  // Dismissals of alerts (one transaction).
  Status dismiss(const std::vector<std::string>& alert_ids, const std::string& reason, const std::string& by,
                 std::int64_t now);
  // A new case holding these alerts (one transaction); returns it.
  Result<Case> open_case(const std::string& user, const std::string& title, const std::vector<std::string>& alert_ids,
                         const std::string& by, std::int64_t now);
  // Alerts joined to an existing case (one transaction); the case's updated time moves.
  Status attach(std::int64_t case_n, const std::vector<std::string>& alert_ids, const std::string& by, std::int64_t now);

  Result<std::vector<Case>> cases(const CaseFilter& filter);
  Result<std::optional<Case>> find_case(std::int64_t n);
  Result<Note> add_note(std::int64_t case_n, const std::string& author, const std::string& text, std::int64_t now);
  Result<std::vector<Note>> notes(std::int64_t case_n);
  Status resolve(std::int64_t case_n, Resolution resolution, const std::string& reason, const std::string& by,
                 std::int64_t now);
  Status mark_escalated(std::int64_t case_n, const std::string& export_dir, const std::string& by, std::int64_t now);

  // Templates: names are unique (Conflict-worthy error when taken: returns nullopt).
  Result<std::optional<NoticeTemplate>> add_template(const NoticeTemplate& t);
  Result<std::vector<NoticeTemplate>> templates();
  Result<Notice> add_notice(const Notice& notice);
  Result<std::vector<Notice>> notices(std::int64_t case_n);

  struct Impl;

 private:
  explicit CaseStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::collector::cases
