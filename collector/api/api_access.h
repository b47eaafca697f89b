// Who may do what through the API: the permissions routes require, and the authenticated caller.
//
// Promises:
// - Every route names exactly one Permission (ApiHandler::routes()); a caller either holds it or
//   gets 403. Roles (collector/auth) are sets of these permissions; the bootstrap admin token
//   holds all of them.
// - A Caller also says which monitored users it may see (population scope) and how their names
//   are shown (pseudonym unless its role may see names and the deployment allows it). Routes
//   that return people filter with may_see_user() and print names with shown_user(), never the
//   raw name.
#pragma once
#include <bitset>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector {

enum class Permission : std::size_t {
  ReadHealth, ReadEvents, ReadDevices, ManageEnrollment, ReadConfig, ManageConfig,
  ReadPolicies, ManagePolicies,      // policies, templates, DLP rules
  ReadPeople, ManagePeople,          // HR records and user attributes (imports)
  ReadAlerts, ReadAnalytics,
  ImportActivity,                    // recorded activity into the store
  TriageAlerts,                      // dismiss, confirm into a case, attach to a case
  ReadCases, ManageCases,            // cases, notes, content explorer; close, escalate
  SendNotices,                       // notice templates and sending them to a case's user
  InvestigateActivity,               // queries over all collected activity
  ExportActivity,                    // query exports (CSV/JSONL files)
  ReadAudit,                         // the audit log and its verification
  ManageAccounts,                    // users, role groups, tokens of others
  RevealNames,                       // see real user names instead of pseudonyms
  Count_
};
inline constexpr std::size_t kPermissionCount = static_cast<std::size_t>(Permission::Count_);
using PermissionSet = std::bitset<kPermissionCount>;

// Stable snake_case name ("read_alerts"), used in role listings, 403 messages and docs.
std::string_view permission_name(Permission p);
PermissionSet all_permissions();

// Who made the request, once authenticated.
struct Caller {
  std::string name;       // the account's name; "admin" for the bootstrap admin token
  std::string remote;     // the peer's address ("" when the handler is called directly)
  PermissionSet permissions;
  // Set by authentication. Null show_name: names are shown as they are (the bootstrap admin
  // token, privacy off).
  //
  // Population scope is per permission: a caller in Analysts scoped to Sales and in an unscoped
  // Auditors group triages Sales only but reads the whole audit log. population_for(p) is the
  // population of the groups that grant p (a null function: everyone); null population_for: the
  // caller sees everyone for every permission, or exactly in_population when that is set.
  // in_population is the population of the permission in use: the dispatcher calls
  // act_as(route.permission) before the route runs, so may_see_user(user) answers for the route.
  // Until then it is the narrowest one (users visible under every permission the caller holds).
  std::function<std::function<bool(const std::string& user)>(Permission p)> population_for;
  std::function<bool(const std::string& user)> in_population;
  std::function<std::string(const std::string& user)> show_name;

  bool may(Permission p) const { return permissions.test(static_cast<std::size_t>(p)); }
  // Within the population of the permission in use (the route's).
  bool may_see_user(const std::string& user) const { return !in_population || in_population(user); }
  // Within the population of permission p (for a route that also acts under another permission).
  bool may_see_user(const std::string& user, Permission p) const {
    if (!population_for) return may_see_user(user);
    auto in = population_for(p);
    return !in || in(user);
  }
  // Whether some population limits what permission p shows (events without a user are then hidden).
  bool scoped_for(Permission p) const { return population_for ? static_cast<bool>(population_for(p)) : static_cast<bool>(in_population); }
  void act_as(Permission p) {
    if (population_for) in_population = population_for(p);
  }
  std::string shown_user(const std::string& user) const { return show_name ? show_name(user) : user; }

  // auth: free text (HR detail, trigger detail, reasons, notes, paths) with the real names of the
  // users it knows of, and of `also`, replaced by what this caller is shown for them. Null: the
  // caller is shown real names, the text stays as it is.
  std::function<std::string(std::string_view text, const std::vector<std::string>& also)> hide_names;
  std::string shown_text(std::string_view text, const std::vector<std::string>& also = {}) const {
    return hide_names ? hide_names(text, also) : std::string(text);
  }

  // auth (collector/auth): a user filter given by the client matches a real user when it is the
  // name this caller is shown for that user (its pseudonym, or the real name when names are
  // revealed to it). Null filter_match: the name show_name gives (or the real one without it).
  std::function<bool(const std::string& real_user, const std::string& given)> filter_match;
  // auth: the users among `candidates` that a user filter `given` names (user_filter_matches for
  // each), answered from the deployment's pseudonym cache so a filter does not hash every stored
  // user on every request. Null: checked one by one.
  std::function<std::vector<std::string>(const std::string& given, const std::vector<std::string>& candidates)> filter_users;
  std::vector<std::string> users_named(const std::string& given, const std::vector<std::string>& candidates) const {
    if (filter_users) return filter_users(given, candidates);
    std::vector<std::string> out;
    for (const auto& u : candidates)
      if (user_filter_matches(u, given)) out.push_back(u);
    return out;
  }
  bool user_filter_matches(const std::string& real_user, const std::string& given) const {
    if (filter_match) return filter_match(real_user, given);
    return show_name ? show_name(real_user) == given : real_user == given;
  }
};

}  // namespace vigil::collector
