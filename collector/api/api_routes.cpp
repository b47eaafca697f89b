// The API's route table: every endpoint, the permission it needs, and the member that answers it.
// Add a row here for a new endpoint; docs/api/openapi.yaml describes each of them (a unit test
// checks that every row appears there).
#include "collector/api/api_handler.h"

namespace vigil::collector {

namespace http = boost::beast::http;

const std::vector<Route>& ApiHandler::routes() {
  using P = Permission;
  using V = http::verb;
  // Captureless lambdas defined in a member have the class's access to its private routes.
  static const std::vector<Route> kRoutes = [] {
    std::vector<Route> r{
        {V::get, "/api/v1/health", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.health(c.req, c.query); }},
        {V::get, "/api/v1/events", P::ReadEvents, [](const ApiHandler& h, const RouteCall& c) { return h.events(c.req, c.query, c.caller); }},
        {V::get, "/api/v1/devices", P::ReadDevices, [](const ApiHandler& h, const RouteCall& c) { return h.devices(c.req, c.query); }},
        {V::post, "/api/v1/enroll-tokens", P::ManageEnrollment,
         [](const ApiHandler& h, const RouteCall& c) { return h.create_enroll_token(c.req, c.query); }},
        {V::get, "/api/v1/collection-config", P::ReadConfig,
         [](const ApiHandler& h, const RouteCall& c) { return h.get_collection_config(c.req, c.query); }},
        {V::put, "/api/v1/collection-config", P::ManageConfig,
         [](const ApiHandler& h, const RouteCall& c) { return h.put_collection_config(c.req, c.query); }},
        {V::delete_, "/api/v1/collection-config", P::ManageConfig,
         [](const ApiHandler& h, const RouteCall& c) { return h.delete_collection_config(c.req, c.query); }},
        {V::get, "/api/v1/alerts", P::ReadAlerts, [](const ApiHandler& h, const RouteCall& c) { return h.list_alerts(c); }},
        {V::get, "/api/v1/alerts/{id}", P::ReadAlerts,
         [](const ApiHandler& h, const RouteCall& c) { return h.show_alert(c); }},
        {V::get, "/api/v1/users/in-scope", P::ReadAlerts,
         [](const ApiHandler& h, const RouteCall& c) { return h.users_in_scope(c.req, c.query, c.caller); }},
        {V::get, "/api/v1/analytics", P::ReadAnalytics, [](const ApiHandler& h, const RouteCall& c) { return h.analytics(c.req, c.query); }},
        {V::post, "/api/v1/recorded-activity", P::ImportActivity,
         [](const ApiHandler& h, const RouteCall& c) { return h.import_recorded(c.req, c.query); }},
    };
    // Policies, templates, DLP rules, HR and user attributes (api_policies.cpp).
    auto policy = [](const ApiHandler& h, const RouteCall& c) { return h.policy_routes(c.req, c.path, c.query); };
    const Route policy_rows[] = {
        {V::get, "/api/v1/policies", P::ReadPolicies, policy},
        {V::post, "/api/v1/policies", P::ManagePolicies, policy},
        {V::post, "/api/v1/policies/validate", P::ReadPolicies, policy},
        {V::get, "/api/v1/policies/{id}", P::ReadPolicies, policy},
        {V::put, "/api/v1/policies/{id}", P::ManagePolicies, policy},
        {V::delete_, "/api/v1/policies/{id}", P::ManagePolicies, policy},
        {V::get, "/api/v1/templates", P::ReadPolicies, policy},
        {V::get, "/api/v1/dlp-rules", P::ReadPolicies, policy},
        {V::post, "/api/v1/dlp-rules", P::ManagePolicies, policy},
        {V::get, "/api/v1/dlp-rules/{id}", P::ReadPolicies, policy},
        {V::put, "/api/v1/dlp-rules/{id}", P::ManagePolicies, policy},
        {V::delete_, "/api/v1/dlp-rules/{id}", P::ManagePolicies, policy},
        {V::post, "/api/v1/hr/import", P::ManagePeople, policy},
        {V::get, "/api/v1/hr", P::ReadPeople, [](const ApiHandler& h, const RouteCall& c) { return h.people_listing(c); }},
        {V::post, "/api/v1/users/attributes/import", P::ManagePeople, policy},
        {V::get, "/api/v1/users/attributes", P::ReadPeople,
         [](const ApiHandler& h, const RouteCall& c) { return h.people_listing(c); }},
    };
    r.insert(r.end(), std::begin(policy_rows), std::end(policy_rows));
    // auth (api_auth.cpp)
    const Route auth_rows[] = {
        {V::post, "/api/v1/session", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.login(c); }, true},
        {V::delete_, "/api/v1/session", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.logout(c); }},
        {V::get, "/api/v1/whoami", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.whoami(c); }},
        {V::get, "/api/v1/roles", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.list_roles(c); }},
        {V::get, "/api/v1/accounts", P::ManageAccounts, [](const ApiHandler& h, const RouteCall& c) { return h.list_accounts(c); }},
        {V::post, "/api/v1/accounts", P::ManageAccounts, [](const ApiHandler& h, const RouteCall& c) { return h.create_account(c); }},
        {V::get, "/api/v1/accounts/{name}", P::ManageAccounts, [](const ApiHandler& h, const RouteCall& c) { return h.show_account(c); }},
        {V::put, "/api/v1/accounts/{name}", P::ManageAccounts, [](const ApiHandler& h, const RouteCall& c) { return h.update_account(c); }},
        {V::delete_, "/api/v1/accounts/{name}", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.delete_account(c); }},
        {V::get, "/api/v1/role-groups", P::ManageAccounts, [](const ApiHandler& h, const RouteCall& c) { return h.list_role_groups(c); }},
        {V::post, "/api/v1/role-groups", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.create_role_group(c); }},
        {V::get, "/api/v1/role-groups/{name}", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.show_role_group(c); }},
        {V::put, "/api/v1/role-groups/{name}", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.update_role_group(c); }},
        {V::delete_, "/api/v1/role-groups/{name}", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.delete_role_group(c); }},
        {V::post, "/api/v1/role-groups/{name}/members", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.add_role_group_member(c); }},
        {V::delete_, "/api/v1/role-groups/{name}/members/{account}", P::ManageAccounts,
         [](const ApiHandler& h, const RouteCall& c) { return h.remove_role_group_member(c); }},
        // One's own tokens need only read_health; other accounts' tokens need manage_accounts
        // (checked in the route, since the same path serves both).
        {V::get, "/api/v1/tokens", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.list_tokens(c); }},
        {V::post, "/api/v1/tokens", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.create_token(c); }},
        {V::delete_, "/api/v1/tokens/{id}", P::ReadHealth, [](const ApiHandler& h, const RouteCall& c) { return h.revoke_token(c); }},
    };
    r.insert(r.end(), std::begin(auth_rows), std::end(auth_rows));
    // audit (api_audit.cpp)
    const Route audit_rows[] = {
        {V::get, "/api/v1/audit", P::ReadAudit, [](const ApiHandler& h, const RouteCall& c) { return h.list_audit(c); }},
        {V::get, "/api/v1/audit/verify", P::ReadAudit, [](const ApiHandler& h, const RouteCall& c) { return h.verify_audit(c); }},
    };
    r.insert(r.end(), std::begin(audit_rows), std::end(audit_rows));
    // activity (api_activity.cpp)
    const Route activity_rows[] = {
        {V::get, "/api/v1/activity", P::InvestigateActivity,
         [](const ApiHandler& h, const RouteCall& c) { return h.activity_query(c); }},
        {V::post, "/api/v1/activity/exports", P::ExportActivity,
         [](const ApiHandler& h, const RouteCall& c) { return h.activity_export_start(c); }},
        {V::get, "/api/v1/activity/exports/{name}", P::ExportActivity,
         [](const ApiHandler& h, const RouteCall& c) { return h.activity_export_status(c); }},
        {V::get, "/api/v1/activity/exports/{name}/content", P::ExportActivity,
         [](const ApiHandler& h, const RouteCall& c) { return h.activity_export_content(c); }},
    };
    r.insert(r.end(), std::begin(activity_rows), std::end(activity_rows));
    // cases (api_cases.cpp): triage, cases, notices. Action numbers are cases::TriageAction.
    const Route case_rows[] = {
        {V::post, "/api/v1/alerts/triage", P::TriageAlerts, [](const ApiHandler& h, const RouteCall& c) { return h.triage_alerts(c, -1); }},
        {V::post, "/api/v1/alerts/{id}/dismiss", P::TriageAlerts, [](const ApiHandler& h, const RouteCall& c) { return h.triage_alerts(c, 0); }},
        {V::post, "/api/v1/alerts/{id}/confirm", P::TriageAlerts, [](const ApiHandler& h, const RouteCall& c) { return h.triage_alerts(c, 1); }},
        {V::post, "/api/v1/alerts/{id}/attach", P::TriageAlerts, [](const ApiHandler& h, const RouteCall& c) { return h.triage_alerts(c, 2); }},
        {V::get, "/api/v1/cases", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.list_cases(c); }},
        {V::get, "/api/v1/cases/{id}", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.show_case(c); }},
        {V::get, "/api/v1/cases/{id}/activity", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.case_activity(c); }},
        {V::get, "/api/v1/cases/{id}/files", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.case_files(c); }},
        {V::get, "/api/v1/cases/{id}/notes", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.case_notes(c); }},
        {V::post, "/api/v1/cases/{id}/notes", P::ManageCases, [](const ApiHandler& h, const RouteCall& c) { return h.add_case_note(c); }},
        {V::post, "/api/v1/cases/{id}/close", P::ManageCases, [](const ApiHandler& h, const RouteCall& c) { return h.close_case(c); }},
        {V::post, "/api/v1/cases/{id}/escalate", P::ManageCases, [](const ApiHandler& h, const RouteCall& c) { return h.escalate_case(c); }},
        {V::post, "/api/v1/cases/{id}/notices", P::SendNotices, [](const ApiHandler& h, const RouteCall& c) { return h.send_case_notice(c); }},
        {V::get, "/api/v1/notice-templates", P::ReadCases, [](const ApiHandler& h, const RouteCall& c) { return h.list_notice_templates(c); }},
        {V::post, "/api/v1/notice-templates", P::SendNotices, [](const ApiHandler& h, const RouteCall& c) { return h.add_notice_template(c); }},
    };
    r.insert(r.end(), std::begin(case_rows), std::end(case_rows));
    return r;
  }();
  return kRoutes;
}

}  // namespace vigil::collector
