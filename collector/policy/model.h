// The insider-risk policy model (issue 4; DESIGN.md "Policies"; ../shared/seeds): what a policy,
// an HR record, a user's attributes, a DLP rule, a user in scope and an alert are. Plain values;
// storage (collector/policy/*_store), the API and the engine all speak these.
//
// Time is UTC nanoseconds since the epoch everywhere (dates from CSV are midnight UTC).
// Users are named as the agent names them (Event.user: the login user's name).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::collector::policy {

// The eight templates. Ids are stable strings (API, CLI, storage).
enum class Template {
  DataTheftDepartingUsers,            // "data_theft_departing_users"        needs HR (resignation)
  GeneralDataLeaks,                   // "general_data_leaks"                needs a DLP rule
  DataLeaksPriorityUsers,             // "data_leaks_priority_users"         needs DLP + priority groups
  DataLeaksDisgruntledUsers,          // "data_leaks_disgruntled_users"      needs DLP + HR (performance)
  GeneralSecurityViolations,          // "general_security_violations"       no prerequisite
  SecurityViolationsDepartingUsers,   // "security_violations_departing_users"   needs HR (resignation)
  SecurityViolationsPriorityUsers,    // "security_violations_priority_users"    needs priority groups
  SecurityViolationsDisgruntledUsers, // "security_violations_disgruntled_users" needs HR (performance)
};

// An indicator: a kind of activity that scores. id is the event type it counts, or a derived id:
//   exfil.removable, exfil.network_share, print.job, file.archive_created,
//   file.extension_mismatch, file.delete, file.bulk, security.firewall, security.audit,
//   security.lsm, security.sudoers, security.pam, security.sshd, security.screen_lock,
//   agent.tamper, file.sensitive (any derived event whose classification found something)
struct IndicatorSetting {
  std::string id;
  bool enabled = true;
  double weight = 0;           // base score of one occurrence (template default, overridable)
  std::uint32_t threshold = 1; // occurrences per day before it scores at all
};

struct Policy {
  std::string id;              // assigned by the collector (p-<n>); stable
  std::string name;            // unique, 1..128 chars
  std::string description;
  Template tmpl = Template::GeneralDataLeaks;
  bool all_users = true;
  std::vector<std::string> users;   // when !all_users
  std::vector<std::string> groups;  // priority groups / attribute values ("department:Sales")
  std::vector<std::string> priority_paths;       // globs
  std::vector<std::string> priority_info_types;  // classifier type ids
  std::vector<std::string> priority_labels;
  std::vector<IndicatorSetting> indicators;      // all the template's, with overrides applied
  std::uint32_t in_scope_days = 30;              // how long a trigger keeps a user in scope
  std::uint32_t historic_days = 90;              // baseline window before the trigger
  double min_risk_threshold = 20;                // user score at which an alert is raised
  bool enabled = true;
  std::int64_t created_ns = 0, updated_ns = 0;
  std::uint64_t version = 1;                     // grows with each update
};

// Health warnings shown with a policy (accepted anyway, as users expect).
struct PolicyHealth {
  std::vector<std::string> warnings;  // e.g. "no HR data imported: departing-user triggers cannot fire"
};

// HR connector rows (CSV, docs/HR_IMPORT.md).
enum class HrEventKind { Resignation, LastWorkingDate, PerformanceReview, ImprovementPlan, Demotion };
struct HrRecord {
  std::string user;
  HrEventKind kind = HrEventKind::Resignation;
  std::int64_t effective_ns = 0;   // the date the row gives
  std::string detail;              // rating, remarks
  std::string source;              // file name and line it came from
};

// Attributes for scoping and priority groups (CSV, docs/HR_IMPORT.md).
struct UserAttributes {
  std::string user;
  std::string department, region, manager;
  std::vector<std::string> priority_groups;
  // cases: where reminder notices go (docs/CASES.md); optional column "email" of the import.
  std::string email = {};  // a default, so older aggregate initialisers stay complete
};

// DLP rules: which sensitive types, how many, on which channels, make a match of which severity.
enum class Severity { Low, Medium, High };
struct DlpRule {
  std::string id;
  std::string name;
  std::map<std::string, std::uint32_t> info_types;  // type id -> minimum count
  std::vector<std::string> channels;                // removable | network_share | print | archive | any
  Severity severity = Severity::Medium;
  bool enabled = true;
};

// Why a user is in scope of a policy.
struct Trigger {
  std::string kind;                // hr.resignation | hr.performance | dlp.high | security.violation | priority_user | always
  std::int64_t time_ns = 0;
  std::string detail;
};
struct UserInScope {
  std::string user, policy_id;
  Trigger trigger;
  std::int64_t since_ns = 0, until_ns = 0;
  double score = 0;
};

// One scored activity with its explanation.
struct ScoredActivity {
  std::string device_id;
  std::uint64_t seq = 0;
  std::string type;                // event type
  std::string indicator;
  std::int64_t time_ns = 0;
  std::string summary;             // path, printer, item
  double score = 0;
  std::vector<std::pair<std::string, double>> reasons;  // ("base weight", 5), ("after hours", x1.5) ...
};

enum class AlertStatus { NeedsReview, Confirmed, Dismissed, Resolved };
struct Alert {
  std::string id;                  // a-<n>
  std::string policy_id;
  std::string user;
  Severity severity = Severity::Low;
  AlertStatus status = AlertStatus::NeedsReview;
  std::int64_t detected_ns = 0, updated_ns = 0;
  double score = 0;
  Trigger trigger;
  std::vector<ScoredActivity> activities;
};

// Stable string ids (API, CLI, storage) and their parsers.
const char* to_string(Template t);
std::optional<Template> template_from_string(const std::string& s);
const char* to_string(HrEventKind k);
std::optional<HrEventKind> hr_kind_from_string(const std::string& s);
const char* to_string(Severity s);
std::optional<Severity> severity_from_string(const std::string& s);
const char* to_string(AlertStatus s);
std::optional<AlertStatus> alert_status_from_string(const std::string& s);

}  // namespace vigil::collector::policy
