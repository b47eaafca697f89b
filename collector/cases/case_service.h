// CaseService: the triage and case workflow (docs/CASES.md) over the policy engine's alerts, the
// case store, the event store and the mail relay.
//
// Promises:
// - Triage is all or nothing: every alert of a request is checked (exists, needs review, belongs
//   to the case's user, case active) before anything is written; then the decisions are one
//   transaction in cases.db and the engine's statuses follow. cases.db is the record of every
//   decision: reconcile() re-applies it to the engine at start, so a crash between the two
//   cannot leave a dismissed alert in "needs review".
// - Triage operations are serialised (one mutex), so two reviewers cannot both triage an alert.
// - Closing resolves every alert of the case; a resolved case is read-only; escalation happens
//   once, and only from active.
// - Escalation writes DATA_DIR/exports/<case>-<time>/ (0700, files 0600): case.json, alerts.json,
//   events.jsonl, files.json, notes.json, notices.json, and manifest.json with the SHA-256 and
//   size of every other file. The case is marked escalated only after the package is complete;
//   a failed package is removed.
// - Notices: the recipient is the user's `email` attribute; every attempt is recorded on the case
//   (delivered, or the error), also when it fails before reaching the relay.
// Population scope and pseudonyms are the API's (it knows the Caller); this service sees people.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/cases/case_evidence.h"
#include "collector/cases/case_model.h"
#include "collector/cases/case_store.h"
#include "collector/cases/mailer.h"
#include "collector/policy/directory.h"
#include "collector/policy/engine.h"
#include "collector/store/event_store.h"

namespace vigil::collector::cases {

enum class TriageAction { Dismiss, Confirm, Attach };

struct TriageRequest {
  TriageAction action = TriageAction::Dismiss;
  std::vector<std::string> alert_ids;  // 1..kMaxBulkAlerts, distinct
  std::string reason;                  // Dismiss: required
  std::string case_id;                 // Attach: the case ("c-3")
  std::string title;                   // Confirm: the new case's title ("" = from the alert)
  std::string by;                      // the reviewer
};
inline constexpr std::size_t kMaxBulkAlerts = 500;
inline constexpr std::size_t kMaxReason = 2000, kMaxTitle = 200, kMaxNote = 20000;

struct TriageOutcome {
  std::vector<std::string> alert_ids;
  std::optional<Case> kase;  // Confirm and Attach
};

// How an alert looks after triage, for alert listings.
struct AlertTriage {
  TriageRecord record;
  std::optional<CaseStatus> case_status;
};

struct EscalationPackage {
  std::string dir;
  std::vector<std::pair<std::string, std::string>> files;  // name -> sha256
};

class CaseService {
 public:
  // exports_dir: where escalation packages go (created 0700 when missing). mailer: null when no
  // relay is configured (sending then fails, and is recorded, saying so).
  CaseService(std::unique_ptr<CaseStore> store, policy::PolicyEngine& engine, EventStore& events,
              std::shared_ptr<const policy::PolicyDirectory> people, std::string exports_dir,
              std::unique_ptr<Mailer> mailer);

  // Re-applies every recorded decision to the engine (start-up).
  Status reconcile();

  CaseResult<TriageOutcome> triage(const TriageRequest& request);
  // alert id -> its decision and its case's status.
  Result<std::map<std::string, AlertTriage>> triage_view();

  Result<std::vector<Case>> cases(const CaseFilter& filter);
  CaseResult<Case> find_case(const std::string& id);
  // The engine's alerts of a case (those it still knows).
  std::vector<policy::Alert> alerts_of(const Case& c) const;

  CaseResult<Note> add_note(const std::string& case_id, const std::string& author, const std::string& text);
  Result<std::vector<Note>> notes(const Case& c);
  CaseResult<Case> close(const std::string& case_id, Resolution resolution, const std::string& reason,
                         const std::string& by);
  CaseResult<EscalationPackage> escalate(const std::string& case_id, const std::string& reason, const std::string& by);

  Result<std::vector<CaseFile>> files(const Case& c, const FileFilter& filter);
  Result<ActivityOverTime> activity(const Case& c, std::optional<std::int64_t> since, std::optional<std::int64_t> until);

  // Templates.
  CaseResult<NoticeTemplate> add_template(const std::string& name, const std::string& subject, const std::string& body,
                                          const std::string& by);
  Result<std::vector<NoticeTemplate>> templates();
  // Sends template (id "t-1" or name) to the case's user; the Notice comes back delivered or
  // failed (Failure::Delivery / BadInput carry the recorded notice's id in the message).
  CaseResult<Notice> send_notice(const std::string& case_id, const std::string& template_ref, const std::string& sender);
  Result<std::vector<Notice>> notices(const Case& c);

 private:
  CaseResult<Case> load_case(const std::string& id);
  CaseResult<EscalationPackage> write_package(const Case& c, const std::string& reason, const std::string& by,
                                              std::int64_t now);

  std::unique_ptr<CaseStore> store_;
  policy::PolicyEngine& engine_;
  EventStore& events_;
  std::shared_ptr<const policy::PolicyDirectory> people_;
  std::string exports_dir_;
  std::unique_ptr<Mailer> mailer_;
  std::mutex mu_;  // serialises triage and case state changes
};

}  // namespace vigil::collector::cases
