// The account store (DATA_DIR/auth.db, mode 0600): local accounts with argon2id password hashes,
// role groups (built-in and custom) with their members, and API tokens kept only as SHA-256.
//
// Promises:
// - Thread-safe: one mutex around one connection; each change is one transaction, so nothing is
//   half-applied.
// - The last admin (an enabled account in a group whose roles grant manage_accounts) can never be
//   removed: a change that would leave none (delete, disable, leave a group, change a group's
//   roles, delete a group) is rolled back and answered LastAdmin. A store that has no admin yet
//   (first start, bootstrap token only) is not held to this.
// - Built-in groups (roles.h) exist on every open with their roles as the code defines them; they
//   cannot be deleted, renamed, scoped or given other roles — only their members change.
// - Tokens: their text is never stored; a revoked or expired token stays listed until deleted
//   with its account.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shared/result.h"

namespace vigil::collector::auth {

struct Account {
  std::string name;
  std::string password_hash;  // filled only by find_account()
  bool disabled = false;
  std::int64_t created_ns = 0;
  std::vector<std::string> groups;
};

// A role group limited to a population: its members see only users whose attribute (department
// or region, from the user attributes import) is one of the values.
struct Scope {
  std::string attribute;  // "" = everyone
  std::vector<std::string> values;
};

struct RoleGroup {
  std::string name;
  std::string description;
  std::vector<std::string> roles;
  Scope scope;
  bool builtin = false;
  std::vector<std::string> members;
};

struct TokenInfo {
  std::string id;       // public handle for listing and revoking ("tok_" + 12 hex)
  std::string account;
  std::string label;
  std::string kind;     // "session" (login) or "api"
  std::int64_t created_ns = 0;
  std::int64_t expires_ns = 0;
  std::optional<std::int64_t> revoked_ns;
};

enum class Outcome { Ok, NotFound, Exists, LastAdmin, Builtin };
struct Write {
  Outcome outcome = Outcome::Ok;
  std::string detail;  // what was not found / which constraint, for the error message
};

class AccountStore {
 public:
  static Result<std::unique_ptr<AccountStore>> open(const std::string& path);
  ~AccountStore();

  // Accounts. groups must exist (NotFound naming the group otherwise).
  Result<Write> add_account(const std::string& name, const std::string& password_hash,
                            const std::vector<std::string>& groups, std::int64_t now_ns);
  Result<std::vector<Account>> list_accounts();
  Result<std::optional<Account>> find_account(const std::string& name);
  // Unset optionals leave the field as it is. Disabling revokes the account's tokens.
  Result<Write> update_account(const std::string& name, const std::optional<std::string>& password_hash,
                               std::optional<bool> disabled, std::int64_t now_ns);
  Result<Write> delete_account(const std::string& name);
  // How many enabled accounts hold manage_accounts.
  Result<std::size_t> admin_count();

  // Role groups.
  Result<std::vector<RoleGroup>> list_groups();
  Result<std::optional<RoleGroup>> find_group(const std::string& name);
  Result<Write> create_group(const RoleGroup& group);
  // Replaces description, roles and scope of a custom group.
  Result<Write> update_group(const RoleGroup& group);
  Result<Write> delete_group(const std::string& name);
  Result<Write> add_member(const std::string& group, const std::string& account);
  Result<Write> remove_member(const std::string& group, const std::string& account);
  // The groups an account is a member of, with their roles and scopes.
  Result<std::vector<RoleGroup>> groups_of(const std::string& account);

  // Tokens.
  Status add_token(const TokenInfo& token, const std::string& sha256);
  Result<std::optional<TokenInfo>> find_token(const std::string& sha256);
  // account "": every account's tokens.
  Result<std::vector<TokenInfo>> list_tokens(const std::string& account);
  Result<std::optional<TokenInfo>> find_token_by_id(const std::string& id);
  Result<Write> revoke_token(const std::string& id, std::int64_t now_ns);

 private:
  struct Impl;
  explicit AccountStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
};

}  // namespace vigil::collector::auth
