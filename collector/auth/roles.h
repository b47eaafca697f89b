// Roles and built-in role groups (docs/ROLES.md): a role is a named set of API permissions, a role
// group is a set of roles that accounts are members of.
//
// Promises:
// - The role table is fixed in code: a role's permissions cannot drift between deployments, and
//   docs/ROLES.md and the [roles] integration test read the same table.
// - The built-in groups follow the seeds' six role groups; "insider_risk_management" holds every
//   role, so its members hold every permission.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/api/api_access.h"

namespace vigil::collector::auth {

struct RoleInfo {
  std::string_view name;         // "analyst"
  std::string_view description;  // one line for listings
  PermissionSet permissions;
};

// Every role, in a stable order.
const std::vector<RoleInfo>& roles();
const RoleInfo* find_role(std::string_view name);

struct BuiltinGroup {
  std::string_view name;
  std::string_view description;
  std::vector<std::string_view> roles;
};
const std::vector<BuiltinGroup>& builtin_groups();
const BuiltinGroup* find_builtin_group(std::string_view name);

// The union of the named roles' permissions (unknown names add nothing; callers validate).
PermissionSet permissions_of(const std::vector<std::string>& role_names);

}  // namespace vigil::collector::auth
