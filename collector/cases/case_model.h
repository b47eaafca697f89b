// The case-management model (docs/CASES.md): triage decisions on alerts, cases with notes,
// notice templates and the notices sent. Plain values; CaseStore keeps them, CaseService
// applies the rules, the API and vigilctl speak them.
//
// Ids shown outside are prefixed strings ("c-3" case, "n-5" note, "t-1" template, "m-2" notice);
// inside they are the SQLite row numbers. Time is UTC nanoseconds since the epoch.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace vigil::collector::cases {

// active: under investigation; escalated: handed to legal with an export package (still open for
// notes and closing); resolved: closed as benign or confirmed, read-only from then on.
enum class CaseStatus { Active, Escalated, Resolved };
enum class Resolution { None, Benign, Confirmed };

struct Case {
  std::int64_t n = 0;
  std::string user;              // the monitored user the case is about (real name; shown via Caller)
  std::string title;
  CaseStatus status = CaseStatus::Active;
  Resolution resolution = Resolution::None;
  std::string resolution_reason;
  std::int64_t opened_ns = 0, updated_ns = 0, closed_ns = 0, escalated_ns = 0;
  std::string opened_by, closed_by, escalated_by;
  std::string export_dir;        // the escalation package, when escalated
  std::vector<std::string> alert_ids;
  std::string id() const { return "c-" + std::to_string(n); }
};

// What a reviewer decided about one alert. Every triaged alert has exactly one row.
enum class Decision { Dismissed, Confirmed };
struct TriageRecord {
  std::string alert_id;
  Decision decision = Decision::Dismissed;
  std::int64_t case_n = 0;       // 0 for a dismissal
  std::string reason;            // required for a dismissal
  std::string by;
  std::int64_t at_ns = 0;
};

struct Note {
  std::int64_t n = 0, case_n = 0;
  std::string author, text;
  std::int64_t at_ns = 0;
  std::string id() const { return "n-" + std::to_string(n); }
};

struct NoticeTemplate {
  std::int64_t n = 0;
  std::string name, subject, body;
  std::string created_by;
  std::int64_t created_ns = 0;
  std::string id() const { return "t-" + std::to_string(n); }
};

// One attempt to send a notice: sent, or failed with the error the relay (or the lookup) gave.
struct Notice {
  std::int64_t n = 0, case_n = 0;
  std::string template_name, recipient, subject, body, sender;
  std::int64_t at_ns = 0;
  bool delivered = false;
  std::string error;
  std::string id() const { return "m-" + std::to_string(n); }
};

const char* to_string(CaseStatus s);
std::optional<CaseStatus> case_status_from_string(const std::string& s);
const char* to_string(Resolution r);
std::optional<Resolution> resolution_from_string(const std::string& s);
const char* to_string(Decision d);
// "c-12" -> 12 (also notes, templates, notices with their own prefix); nullopt when malformed.
std::optional<std::int64_t> parse_prefixed_id(const std::string& id, char prefix);

// Why a case operation failed, as the API maps it: NotFound 404, Conflict 409, BadInput 400,
// Delivery 502 (the SMTP relay refused or could not be reached), Unavailable 503, Storage 500.
enum class Failure { NotFound, Conflict, BadInput, Delivery, Unavailable, Storage };
struct CaseError {
  Failure kind;
  std::string message;
};

// A value or a CaseError: Result<T> with the kind of failure the caller needs to answer.
template <typename T>
class [[nodiscard]] CaseResult {
 public:
  CaseResult(T v) : v_(std::move(v)) {}
  CaseResult(CaseError e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const CaseError& failure() const { return std::get<1>(v_); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, CaseError> v_;
};

inline CaseError fail(Failure kind, std::string message) { return CaseError{kind, std::move(message)}; }

}  // namespace vigil::collector::cases
