#include "collector/auth/roles.h"

namespace vigil::collector::auth {

namespace {

PermissionSet set_of(std::initializer_list<Permission> ps) {
  PermissionSet s;
  for (auto p : ps) s.set(static_cast<std::size_t>(p));
  return s;
}

}  // namespace

const std::vector<RoleInfo>& roles() {
  using P = Permission;
  // read_health is in every role: it is what whoami, logout and one's own tokens need.
  static const std::vector<RoleInfo> kRoles = [] {
    const PermissionSet viewer = set_of({P::ReadHealth, P::ReadAlerts, P::ReadCases, P::ReadAnalytics, P::ReadPolicies});
    const PermissionSet analyst = viewer | set_of({P::TriageAlerts});
    const PermissionSet investigator =
        analyst | set_of({P::ReadEvents, P::ReadDevices, P::InvestigateActivity, P::ExportActivity});
    return std::vector<RoleInfo>{
        {"admin", "policies, DLP rules, HR and attribute imports, collection config, devices and enrollment, "
                  "analytics, accounts and role groups",
         set_of({P::ReadHealth, P::ReadDevices, P::ManageEnrollment, P::ReadConfig, P::ManageConfig, P::ReadPolicies,
                 P::ManagePolicies, P::ReadPeople, P::ManagePeople, P::ReadAnalytics, P::ImportActivity,
                 P::ManageAccounts})},
        {"analyst", "alerts (read and triage), cases, notices templates, analytics; no activity explorer", analyst},
        {"investigator", "everything an analyst has plus the activity explorer, devices and exports", investigator},
        {"viewer", "read-only alerts, cases, analytics and policies", viewer},
        {"case_management", "manage cases: triage alerts into cases, notes, close, escalate, send notices",
         set_of({P::ReadHealth, P::ReadCases, P::ManageCases, P::SendNotices, P::TriageAlerts})},
        {"auditor", "the audit log and its verification", set_of({P::ReadHealth, P::ReadAudit})},
        {"name_reveal", "see monitored users' real names instead of pseudonyms (when [privacy] allows it)",
         set_of({P::ReadHealth, P::RevealNames})},
    };
  }();
  return kRoles;
}

const RoleInfo* find_role(std::string_view name) {
  for (const auto& r : roles())
    if (r.name == name) return &r;
  return nullptr;
}

const std::vector<BuiltinGroup>& builtin_groups() {
  static const std::vector<BuiltinGroup> kGroups{
      {"insider_risk_management", "every role: one group for a small team",
       {"admin", "analyst", "investigator", "viewer", "case_management", "auditor", "name_reveal"}},
      {"admin", "sets the product up: policies, settings, accounts and role groups", {"admin"}},
      {"analysts", "review and triage alerts, work cases", {"analyst", "case_management"}},
      {"investigators", "analysts who also explore activity and export it", {"investigator", "case_management"}},
      {"viewers", "read-only access to alerts and cases", {"viewer"}},
      {"auditors", "the audit log", {"auditor"}},
  };
  return kGroups;
}

const BuiltinGroup* find_builtin_group(std::string_view name) {
  for (const auto& g : builtin_groups())
    if (g.name == name) return &g;
  return nullptr;
}

PermissionSet permissions_of(const std::vector<std::string>& role_names) {
  PermissionSet s;
  for (const auto& n : role_names)
    if (const auto* r = find_role(n)) s |= r->permissions;
  return s;
}

}  // namespace vigil::collector::auth
