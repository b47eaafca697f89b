#include "collector/api/api_access.h"

namespace vigil::collector {

std::string_view permission_name(Permission p) {
  switch (p) {
    case Permission::ReadHealth: return "read_health";
    case Permission::ReadEvents: return "read_events";
    case Permission::ReadDevices: return "read_devices";
    case Permission::ManageEnrollment: return "manage_enrollment";
    case Permission::ReadConfig: return "read_config";
    case Permission::ManageConfig: return "manage_config";
    case Permission::ReadPolicies: return "read_policies";
    case Permission::ManagePolicies: return "manage_policies";
    case Permission::ReadPeople: return "read_people";
    case Permission::ManagePeople: return "manage_people";
    case Permission::ReadAlerts: return "read_alerts";
    case Permission::ReadAnalytics: return "read_analytics";
    case Permission::ImportActivity: return "import_activity";
    case Permission::TriageAlerts: return "triage_alerts";
    case Permission::ReadCases: return "read_cases";
    case Permission::ManageCases: return "manage_cases";
    case Permission::SendNotices: return "send_notices";
    case Permission::InvestigateActivity: return "investigate_activity";
    case Permission::ExportActivity: return "export_activity";
    case Permission::ReadAudit: return "read_audit";
    case Permission::ManageAccounts: return "manage_accounts";
    case Permission::RevealNames: return "reveal_names";
    case Permission::Count_: break;
  }
  return "unknown";
}

PermissionSet all_permissions() { return PermissionSet{}.set(); }

}  // namespace vigil::collector
