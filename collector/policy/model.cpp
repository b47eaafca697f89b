#include "collector/policy/model.h"

#include <array>
#include <utility>

namespace vigil::collector::policy {

namespace {

template <typename E, std::size_t N>
std::optional<E> find_by_name(const std::array<std::pair<E, const char*>, N>& table, const std::string& s) {
  for (const auto& [value, name] : table)
    if (s == name) return value;
  return std::nullopt;
}

template <typename E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E e) {
  for (const auto& [value, name] : table)
    if (value == e) return name;
  return "unknown";
}

constexpr std::array<std::pair<Template, const char*>, 8> kTemplates{{
    {Template::DataTheftDepartingUsers, "data_theft_departing_users"},
    {Template::GeneralDataLeaks, "general_data_leaks"},
    {Template::DataLeaksPriorityUsers, "data_leaks_priority_users"},
    {Template::DataLeaksDisgruntledUsers, "data_leaks_disgruntled_users"},
    {Template::GeneralSecurityViolations, "general_security_violations"},
    {Template::SecurityViolationsDepartingUsers, "security_violations_departing_users"},
    {Template::SecurityViolationsPriorityUsers, "security_violations_priority_users"},
    {Template::SecurityViolationsDisgruntledUsers, "security_violations_disgruntled_users"},
}};
constexpr std::array<std::pair<HrEventKind, const char*>, 5> kHrKinds{{
    {HrEventKind::Resignation, "resignation"},
    {HrEventKind::LastWorkingDate, "last_working_date"},
    {HrEventKind::PerformanceReview, "performance_review"},
    {HrEventKind::ImprovementPlan, "improvement_plan"},
    {HrEventKind::Demotion, "demotion"},
}};
constexpr std::array<std::pair<Severity, const char*>, 3> kSeverities{{
    {Severity::Low, "low"}, {Severity::Medium, "medium"}, {Severity::High, "high"},
}};
constexpr std::array<std::pair<AlertStatus, const char*>, 4> kStatuses{{
    {AlertStatus::NeedsReview, "needs_review"},
    {AlertStatus::Confirmed, "confirmed"},
    {AlertStatus::Dismissed, "dismissed"},
    {AlertStatus::Resolved, "resolved"},
}};

}  // namespace

const char* to_string(Template t) { return name_of(kTemplates, t); }
std::optional<Template> template_from_string(const std::string& s) { return find_by_name(kTemplates, s); }
const char* to_string(HrEventKind k) { return name_of(kHrKinds, k); }
std::optional<HrEventKind> hr_kind_from_string(const std::string& s) { return find_by_name(kHrKinds, s); }
const char* to_string(Severity s) { return name_of(kSeverities, s); }
std::optional<Severity> severity_from_string(const std::string& s) { return find_by_name(kSeverities, s); }
const char* to_string(AlertStatus s) { return name_of(kStatuses, s); }
std::optional<AlertStatus> alert_status_from_string(const std::string& s) { return find_by_name(kStatuses, s); }

}  // namespace vigil::collector::policy
