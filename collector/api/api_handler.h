// ApiHandler: what the HTTPS API answers, independent of sockets and TLS. The server feeds it
// parsed requests; tests may call it directly.
//
// Promises:
// - Every /api/v1 route requires `Authorization: Bearer <token>`; the token is compared by
//   SHA-256 in constant time and never kept, logged or echoed. Authentication happens before
//   routing, so an unauthenticated caller learns nothing about which paths exist.
// - Routes are one table (routes()): method, path pattern with {parameters}, the Permission it
//   needs. The caller is checked against it before the route runs: 401 without valid
//   credentials, 403 without the permission, 405 with Allow when only the method is wrong.
// - Every request that changes something (any method but GET) is recorded in the audit sink with
//   its outcome, refusals included.
// - Input is validated before storage is touched: unknown query parameters or body fields, wrong
//   types, out-of-range values are 400 with {"error": "..."} naming the parameter or field.
// - dispatch() never blocks: work that touches storage comes back as a job for the caller to run
//   off its I/O threads. The handler is immutable and safe to share between threads.
#pragma once
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "collector/api/api_access.h"
#include "collector/api/audit_sink.h"
#include "collector/api/authenticator.h"
#include "collector/config/collection_configs.h"
#include "collector/policy/policy_store.h"
#include "collector/policy/engine.h"
#include "collector/store/event_store.h"

namespace vigil::collector {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;


// A request is either answered at once (bad input, auth, health) or needs storage.
struct Dispatch {
  std::optional<HttpResponse> response;
  std::function<HttpResponse()> storage_job;  // set when response is not; may block
};

class ApiHandler;

// One request matched to a route: the {parameters} of its pattern in order.
struct RouteCall {
  const HttpRequest& req;
  const std::string& path;
  std::string_view query;
  const Caller& caller;
  std::vector<std::string> params;
};

struct Route {
  boost::beast::http::verb method;
  std::string_view pattern;  // "/api/v1/cases/{id}/notes": {x} matches one non-empty segment
  Permission permission;
  Dispatch (*run)(const ApiHandler&, const RouteCall&);
  bool is_public = false;    // no credentials needed (login); still rate-limited by its route
};

inline constexpr std::uint32_t kMaxEnrollTokenUses = 100000;
inline constexpr std::size_t kDefaultEventLimit = 1000;
inline constexpr std::size_t kMaxEventLimit = 100000;

class RecordedImport;
namespace auth { class AuthService; }
// audit (api_audit.cpp)
namespace audit { class AuditLog; }
// activity (api_activity.cpp)
class ActivityCursors;
class ActivityExports;
namespace cases { class CaseService; struct AlertTriage; }

class ApiHandler {
 public:
  // configs: null when the collector serves no collection config (tests of other routes).
  // policies: null when the collector serves no policies (those routes answer 503).
  // engine: null when the collector runs no policy engine (alert routes answer 503).
  ApiHandler(EventStore& store, std::string admin_token_sha256, CollectionConfigs* configs = nullptr,
             policy::SqlitePolicyStore* policies = nullptr, const policy::PolicyEngine* engine = nullptr);

  // Optional services, set before the handler serves (null: their routes answer 503).
  void set_recorded_import(RecordedImport* importer);
  // Accounts and roles: tokens other than the bootstrap admin token are checked here.
  void set_authenticator(const Authenticator* authenticator);
  // The audit log: every change and refusal is recorded there (null: nothing is recorded).
  void set_audit_sink(AuditSink* sink);
  // auth (api_auth.cpp): accounts, role groups, tokens, login; also becomes the authenticator,
  // and its name reveals are recorded through audit() as "reveal_names".
  void set_auth_service(auth::AuthService* service);
  // audit (api_audit.cpp): the log the audit routes read and verify (null: they answer 503).
  void set_audit_log(audit::AuditLog* log);
  // activity (api_activity.cpp): cursor signing and background exports (null: those routes 503).
  void set_activity(const ActivityCursors* cursors, ActivityExports* exports);
  // cases (api_cases.cpp): triage, cases, notices (null: those routes answer 503).
  void set_case_service(cases::CaseService* service);

  // Every route the API has, in the order they are matched (literal segments win over {x}).
  static const std::vector<Route>& routes();

  // remote: the peer's address, for the audit log.
  Dispatch dispatch(const HttpRequest& request, std::string_view remote = {}) const;
  // dispatch() and, when needed, its storage job on the calling thread.
  HttpResponse handle(const HttpRequest& request, std::string_view remote = {}) const;

  // Records a sensitive read or a named action (export, reveal_names, escalate) in the audit
  // sink. Routes call it from their storage jobs; without a sink it does nothing.
  Status audit(const Caller& caller, std::string_view action, std::string_view target, int status,
               std::string_view detail = {}) const;

 private:
  std::optional<HttpResponse> authenticate(const HttpRequest& request, Caller& caller) const;
  Dispatch audited(Dispatch d, const HttpRequest& request, const std::string& path, const Caller& caller) const;

  Dispatch health(const HttpRequest& request, std::string_view query) const;
  Dispatch events(const HttpRequest& request, std::string_view query, const Caller& caller) const;
  Dispatch devices(const HttpRequest& request, std::string_view query) const;
  Dispatch create_enroll_token(const HttpRequest& request, std::string_view query) const;
  // Collection config routes (api_config.cpp).
  Dispatch get_collection_config(const HttpRequest& request, std::string_view query) const;
  Dispatch put_collection_config(const HttpRequest& request, std::string_view query) const;
  Dispatch delete_collection_config(const HttpRequest& request, std::string_view query) const;
  // Policies, templates, DLP rules, HR and user attributes (api_policies.cpp); nullopt when the
  // path is not one of theirs.
  Dispatch policy_routes(const HttpRequest& request, const std::string& path, std::string_view query) const;

  // Policy engine routes (api_alerts.cpp).
  Dispatch users_in_scope(const HttpRequest& request, std::string_view query, const Caller& caller) const;
  Dispatch list_alerts(const RouteCall& call) const;
  Dispatch show_alert(const RouteCall& call) const;
  Dispatch analytics(const HttpRequest& request, std::string_view query) const;
  // Recorded activity (api_import.cpp).
  Dispatch import_recorded(const HttpRequest& request, std::string_view query) const;

  // auth (api_auth.cpp): session, accounts, roles, role groups, tokens; api_people.cpp: HR and
  // attribute listings with population scope and pseudonyms.
  Dispatch login(const RouteCall& c) const;
  Dispatch logout(const RouteCall& c) const;
  Dispatch whoami(const RouteCall& c) const;
  Dispatch list_accounts(const RouteCall& c) const;
  Dispatch create_account(const RouteCall& c) const;
  Dispatch show_account(const RouteCall& c) const;
  Dispatch update_account(const RouteCall& c) const;
  Dispatch delete_account(const RouteCall& c) const;
  Dispatch list_roles(const RouteCall& c) const;
  Dispatch list_role_groups(const RouteCall& c) const;
  Dispatch create_role_group(const RouteCall& c) const;
  Dispatch show_role_group(const RouteCall& c) const;
  Dispatch update_role_group(const RouteCall& c) const;
  Dispatch delete_role_group(const RouteCall& c) const;
  Dispatch add_role_group_member(const RouteCall& c) const;
  Dispatch remove_role_group_member(const RouteCall& c) const;
  Dispatch list_tokens(const RouteCall& c) const;
  Dispatch create_token(const RouteCall& c) const;
  Dispatch revoke_token(const RouteCall& c) const;
  Dispatch people_listing(const RouteCall& c) const;
  // audit (api_audit.cpp)
  Dispatch list_audit(const RouteCall& call) const;
  Dispatch verify_audit(const RouteCall& call) const;
  // activity (api_activity.cpp)
  Dispatch activity_query(const RouteCall& c) const;
  Dispatch activity_export_start(const RouteCall& c) const;
  Dispatch activity_export_status(const RouteCall& c) const;
  Dispatch activity_export_content(const RouteCall& c) const;
  // cases (api_cases.cpp)
  Dispatch triage_alerts(const RouteCall& call, int action) const;  // action: cases::TriageAction, -1 = from the body
  Dispatch list_cases(const RouteCall& call) const;
  Dispatch show_case(const RouteCall& call) const;
  Dispatch case_activity(const RouteCall& call) const;
  Dispatch case_files(const RouteCall& call) const;
  Dispatch case_notes(const RouteCall& call) const;
  Dispatch add_case_note(const RouteCall& call) const;
  Dispatch close_case(const RouteCall& call) const;
  Dispatch escalate_case(const RouteCall& call) const;
  Dispatch send_case_notice(const RouteCall& call) const;
  Dispatch list_notice_templates(const RouteCall& call) const;
  Dispatch add_notice_template(const RouteCall& call) const;
  // An alert as the caller may see it (shown user name) with its triage and case, when known.
  boost::json::object alert_view(const policy::Alert& alert, bool with_activities, const Caller& caller,
                                 const std::map<std::string, cases::AlertTriage>* triage) const;

  EventStore& store_;
  CollectionConfigs* configs_;
  policy::SqlitePolicyStore* policies_;
  const policy::PolicyEngine* engine_;
  RecordedImport* recorded_import_ = nullptr;
  const Authenticator* authenticator_ = nullptr;
  AuditSink* audit_sink_ = nullptr;
  auth::AuthService* auth_service_ = nullptr;  // auth (api_auth.cpp)
  audit::AuditLog* audit_log_ = nullptr;  // audit (api_audit.cpp)
  // activity (api_activity.cpp)
  const ActivityCursors* activity_cursors_ = nullptr;
  ActivityExports* activity_exports_ = nullptr;
  cases::CaseService* case_service_ = nullptr;  // cases (api_cases.cpp)
  std::string admin_token_sha256_;
};

// Query helpers shared by the route files (api_handler.cpp).
Result<std::vector<std::pair<std::string, std::string>>> checked_query(std::string_view query,
                                                                       std::initializer_list<std::string_view> accepted);
Result<std::int64_t> parse_time_param(std::string_view name, const std::string& value, std::int64_t now);
// Error naming both times unless since < until (either may be absent).
Status check_time_range(std::optional<std::int64_t> since_ns, std::optional<std::int64_t> until_ns);

// {"error": message} with the given status; the same shape for every failure the API reports.
HttpResponse error_response(boost::beast::http::status status, std::string_view message);
HttpResponse json_response(boost::beast::http::status status, const boost::json::value& body);
// Adds config_version, config_reported, config_error, config_error_version to a device's JSON
// (state null: the device never reported a collection config).
void add_config_state(boost::json::object& device, const DeviceConfigState* state);

}  // namespace vigil::collector
