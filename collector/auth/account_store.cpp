#include "collector/auth/account_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "collector/auth/roles.h"
#include "collector/store/sqlite_util.h"

namespace vigil::collector::auth {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  created_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS role_groups (
  name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', roles TEXT NOT NULL DEFAULT '',
  scope_attribute TEXT NOT NULL DEFAULT '', scope_values TEXT NOT NULL DEFAULT '', builtin INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS group_members (
  group_name TEXT NOT NULL REFERENCES role_groups(name) ON DELETE CASCADE,
  account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  PRIMARY KEY (group_name, account));
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  label TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL,
  revoked_ns INTEGER);
)sql";

std::string join(const std::vector<std::string>& v, char sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : std::string(1, sep)) + x;
  return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto at = s.find(sep);
    out.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

struct AccountStore::Impl {
  Db db;

  Result<Stmt> prep(std::string_view sql, std::string_view what) { return Stmt::prepare(db.get(), sql, what); }

  Result<std::vector<std::string>> groups_of_account(const std::string& name) {
    auto st = prep("SELECT group_name FROM group_members WHERE account=? ORDER BY group_name", "groups of account");
    if (!st) return err(st.error());
    Use u(*st);
    u.bind(1, name);
    return sqlite::texts(u);
  }

  Result<std::vector<RoleGroup>> groups(const std::string& only_name, const std::string& member) {
    std::string sql =
        "SELECT name, description, roles, scope_attribute, scope_values, builtin FROM role_groups";
    if (!only_name.empty()) sql += " WHERE name=?1";
    else if (!member.empty()) sql += " WHERE name IN (SELECT group_name FROM group_members WHERE account=?1)";
    sql += " ORDER BY builtin DESC, name";
    auto st = prep(sql, "list role groups");
    if (!st) return err(st.error());
    std::vector<RoleGroup> out;
    {
      Use u(*st);
      if (!only_name.empty()) u.bind(1, only_name);
      else if (!member.empty()) u.bind(1, member);
      for (;;) {
        auto row = u.step();
        if (!row) return err(row.error());
        if (!*row) break;
        RoleGroup g;
        g.name = u.text(0);
        g.description = u.text(1);
        g.roles = split(u.text(2), ',');
        g.scope.attribute = u.text(3);
        g.scope.values = split(u.text(4), '\n');
        g.builtin = u.int64(5) != 0;
        out.push_back(std::move(g));
      }
    }
    auto ms = prep("SELECT account FROM group_members WHERE group_name=? ORDER BY account", "group members");
    if (!ms) return err(ms.error());
    for (auto& g : out) {
      Use u(*ms);
      u.bind(1, g.name);
      auto members = sqlite::texts(u);
      if (!members) return err(members.error());
      g.members = std::move(*members);
    }
    return out;
  }

  Result<std::size_t> admins() {
    auto gs = groups("", "");
    if (!gs) return err(gs.error());
    auto enabled = prep("SELECT disabled FROM accounts WHERE name=?", "account state");
    if (!enabled) return err(enabled.error());
    std::set<std::string> found;
    for (const auto& g : *gs) {
      if (!permissions_of(g.roles).test(static_cast<std::size_t>(Permission::ManageAccounts))) continue;
      for (const auto& m : g.members) {
        Use u(*enabled);
        u.bind(1, m);
        auto row = u.step();
        if (!row) return err(row.error());
        if (*row && u.int64(0) == 0) found.insert(m);
      }
    }
    return found.size();
  }

  Result<std::int64_t> changes_of(std::string_view sql, std::string_view what,
                                  const std::vector<std::string>& text_args, const std::vector<std::int64_t>& int_args = {}) {
    auto st = prep(sql, what);
    if (!st) return err(st.error());
    Use u(*st);
    int i = 1;
    for (const auto& a : text_args) u.bind(i++, std::string_view(a));
    for (auto a : int_args) u.bind(i++, a);
    if (auto s = u.run(); !s) return err(s.error());
    return static_cast<std::int64_t>(sqlite3_changes(db.get()));
  }

  // Runs a change in one transaction; rolls it back when it would remove the last admin.
  template <typename F>
  Result<Write> guarded(F&& change) {
    auto before = admins();
    if (!before) return err(before.error());
    auto txn = Txn::begin(db, true);
    if (!txn) return err(txn.error());
    Result<Write> w = change();
    if (!w || w->outcome != Outcome::Ok) return w;  // the Txn rolls back
    auto after = admins();
    if (!after) return err(after.error());
    if (*before > 0 && *after == 0)
      return Write{Outcome::LastAdmin, "this would leave no enabled account that may manage accounts"};
    if (auto s = txn->commit(); !s) return err(s.error());
    return w;
  }

  Result<bool> exists(std::string_view table, const std::string& name) {
    auto st = prep("SELECT 1 FROM " + std::string(table) + " WHERE name=?", "exists");
    if (!st) return err(st.error());
    Use u(*st);
    u.bind(1, name);
    auto row = u.step();
    if (!row) return err(row.error());
    return *row;
  }
};

AccountStore::AccountStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AccountStore::~AccountStore() = default;

Result<std::unique_ptr<AccountStore>> AccountStore::open(const std::string& path) {
  // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
  if (auto s = sqlite::create_private_file(path); !s) return err(s.error());
  auto db = sqlite::open_wal(path, 5000);
  if (!db) return err(db.error());
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(*db);
  if (auto s = impl->db.exec("PRAGMA foreign_keys=ON", "configure auth.db"); !s) return err(s.error());
  if (auto s = impl->db.exec(kSchema, "create auth schema"); !s) return err(s.error());
  // Built-in groups as the code defines them (their roles are refreshed, their members kept).
  for (const auto& g : builtin_groups()) {
    std::vector<std::string> rs(g.roles.begin(), g.roles.end());
    auto c = impl->changes_of(
        "INSERT INTO role_groups(name, description, roles, builtin) VALUES(?1, ?2, ?3, 1) "
        "ON CONFLICT(name) DO UPDATE SET description=?2, roles=?3, builtin=1, scope_attribute='', scope_values=''",
        "builtin group", {std::string(g.name), std::string(g.description), join(rs, ',')});
    if (!c) return err(c.error());
  }
  return std::unique_ptr<AccountStore>(new AccountStore(std::move(impl)));
}

Result<Write> AccountStore::add_account(const std::string& name, const std::string& password_hash,
                                        const std::vector<std::string>& groups, std::int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  auto txn = Txn::begin(d.db, true);
  if (!txn) return err(txn.error());
  auto there = d.exists("accounts", name);
  if (!there) return err(there.error());
  if (*there) return Write{Outcome::Exists, "account '" + name + "' already exists"};
  for (const auto& g : groups) {
    auto e = d.exists("role_groups", g);
    if (!e) return err(e.error());
    if (!*e) return Write{Outcome::NotFound, "no role group '" + g + "'"};
  }
  auto c = d.changes_of("INSERT INTO accounts(name, password_hash, disabled, created_ns) VALUES(?, ?, 0, ?)",
                        "add account", {name, password_hash}, {now_ns});
  if (!c) return err(c.error());
  for (const auto& g : groups) {
    auto m = d.changes_of("INSERT OR IGNORE INTO group_members(group_name, account) VALUES(?, ?)", "add member", {g, name});
    if (!m) return err(m.error());
  }
  if (auto s = txn->commit(); !s) return err(s.error());
  return Write{};
}

Result<std::vector<Account>> AccountStore::list_accounts() {
  std::lock_guard lock(mu_);
  auto st = impl_->prep("SELECT name, disabled, created_ns FROM accounts ORDER BY name", "list accounts");
  if (!st) return err(st.error());
  std::vector<Account> out;
  {
    Use u(*st);
    for (;;) {
      auto row = u.step();
      if (!row) return err(row.error());
      if (!*row) break;
      Account a;
      a.name = u.text(0);
      a.disabled = u.int64(1) != 0;
      a.created_ns = u.int64(2);
      out.push_back(std::move(a));
    }
  }
  for (auto& a : out) {
    auto g = impl_->groups_of_account(a.name);
    if (!g) return err(g.error());
    a.groups = std::move(*g);
  }
  return out;
}

Result<std::optional<Account>> AccountStore::find_account(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = impl_->prep("SELECT name, password_hash, disabled, created_ns FROM accounts WHERE name=?", "find account");
  if (!st) return err(st.error());
  Account a;
  {
    Use u(*st);
    u.bind(1, name);
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return std::optional<Account>{};
    a.name = u.text(0);
    a.password_hash = u.text(1);
    a.disabled = u.int64(2) != 0;
    a.created_ns = u.int64(3);
  }
  auto g = impl_->groups_of_account(a.name);
  if (!g) return err(g.error());
  a.groups = std::move(*g);
  return std::optional<Account>(std::move(a));
}

Result<Write> AccountStore::update_account(const std::string& name, const std::optional<std::string>& password_hash,
                                           std::optional<bool> disabled, std::int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  return d.guarded([&]() -> Result<Write> {
    auto there = d.exists("accounts", name);
    if (!there) return err(there.error());
    if (!*there) return Write{Outcome::NotFound, "no account '" + name + "'"};
    if (password_hash) {
      auto c = d.changes_of("UPDATE accounts SET password_hash=? WHERE name=?", "set password", {*password_hash, name});
      if (!c) return err(c.error());
    }
    if (disabled) {
      auto c = d.changes_of("UPDATE accounts SET disabled=?2 WHERE name=?1", "disable account", {name},
                            {*disabled ? 1 : 0});
      if (!c) return err(c.error());
      if (*disabled) {
        auto r = d.changes_of("UPDATE tokens SET revoked_ns=?2 WHERE account=?1 AND revoked_ns IS NULL",
                              "revoke tokens", {name}, {now_ns});
        if (!r) return err(r.error());
      }
    }
    return Write{};
  });
}

Result<Write> AccountStore::delete_account(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  return d.guarded([&]() -> Result<Write> {
    auto c = d.changes_of("DELETE FROM accounts WHERE name=?", "delete account", {name});
    if (!c) return err(c.error());
    if (*c == 0) return Write{Outcome::NotFound, "no account '" + name + "'"};
    return Write{};
  });
}

Result<std::size_t> AccountStore::admin_count() {
  std::lock_guard lock(mu_);
  return impl_->admins();
}

Result<std::vector<RoleGroup>> AccountStore::list_groups() {
  std::lock_guard lock(mu_);
  return impl_->groups("", "");
}

Result<std::optional<RoleGroup>> AccountStore::find_group(const std::string& name) {
  std::lock_guard lock(mu_);
  auto g = impl_->groups(name, "");
  if (!g) return err(g.error());
  if (g->empty()) return std::optional<RoleGroup>{};
  return std::optional<RoleGroup>(std::move(g->front()));
}

Result<std::vector<RoleGroup>> AccountStore::groups_of(const std::string& account) {
  std::lock_guard lock(mu_);
  return impl_->groups("", account);
}

Result<Write> AccountStore::create_group(const RoleGroup& g) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  auto there = d.exists("role_groups", g.name);
  if (!there) return err(there.error());
  if (*there) return Write{Outcome::Exists, "role group '" + g.name + "' already exists"};
  auto c = d.changes_of(
      "INSERT INTO role_groups(name, description, roles, scope_attribute, scope_values, builtin) VALUES(?, ?, ?, ?, ?, 0)",
      "create role group", {g.name, g.description, join(g.roles, ','), g.scope.attribute, join(g.scope.values, '\n')});
  if (!c) return err(c.error());
  return Write{};
}

Result<Write> AccountStore::update_group(const RoleGroup& g) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  return d.guarded([&]() -> Result<Write> {
    auto cur = d.groups(g.name, "");
    if (!cur) return err(cur.error());
    if (cur->empty()) return Write{Outcome::NotFound, "no role group '" + g.name + "'"};
    if (cur->front().builtin)
      return Write{Outcome::Builtin, "'" + g.name + "' is a built-in role group: only its members can change"};
    auto c = d.changes_of("UPDATE role_groups SET description=?2, roles=?3, scope_attribute=?4, scope_values=?5 WHERE name=?1",
                          "update role group",
                          {g.name, g.description, join(g.roles, ','), g.scope.attribute, join(g.scope.values, '\n')});
    if (!c) return err(c.error());
    return Write{};
  });
}

Result<Write> AccountStore::delete_group(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  return d.guarded([&]() -> Result<Write> {
    auto cur = d.groups(name, "");
    if (!cur) return err(cur.error());
    if (cur->empty()) return Write{Outcome::NotFound, "no role group '" + name + "'"};
    if (cur->front().builtin) return Write{Outcome::Builtin, "'" + name + "' is a built-in role group and cannot be deleted"};
    auto c = d.changes_of("DELETE FROM role_groups WHERE name=?", "delete role group", {name});
    if (!c) return err(c.error());
    return Write{};
  });
}

Result<Write> AccountStore::add_member(const std::string& group, const std::string& account) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  auto g = d.exists("role_groups", group);
  if (!g) return err(g.error());
  if (!*g) return Write{Outcome::NotFound, "no role group '" + group + "'"};
  auto a = d.exists("accounts", account);
  if (!a) return err(a.error());
  if (!*a) return Write{Outcome::NotFound, "no account '" + account + "'"};
  auto c = d.changes_of("INSERT OR IGNORE INTO group_members(group_name, account) VALUES(?, ?)", "add member",
                        {group, account});
  if (!c) return err(c.error());
  if (*c == 0) return Write{Outcome::Exists, "'" + account + "' is already a member of '" + group + "'"};
  return Write{};
}

Result<Write> AccountStore::remove_member(const std::string& group, const std::string& account) {
  std::lock_guard lock(mu_);
  auto& d = *impl_;
  return d.guarded([&]() -> Result<Write> {
    auto g = d.exists("role_groups", group);
    if (!g) return err(g.error());
    if (!*g) return Write{Outcome::NotFound, "no role group '" + group + "'"};
    auto c = d.changes_of("DELETE FROM group_members WHERE group_name=? AND account=?", "remove member", {group, account});
    if (!c) return err(c.error());
    if (*c == 0) return Write{Outcome::NotFound, "'" + account + "' is not a member of '" + group + "'"};
    return Write{};
  });
}

namespace {

constexpr const char* kTokenCols = "id, account, label, kind, created_ns, expires_ns, revoked_ns";

TokenInfo token_row(const Use& u) {
  TokenInfo t;
  t.id = u.text(0);
  t.account = u.text(1);
  t.label = u.text(2);
  t.kind = u.text(3);
  t.created_ns = u.int64(4);
  t.expires_ns = u.int64(5);
  if (!u.is_null(6)) t.revoked_ns = u.int64(6);
  return t;
}

}  // namespace

Status AccountStore::add_token(const TokenInfo& t, const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto st = impl_->prep(
      "INSERT INTO tokens(id, sha256, account, label, kind, created_ns, expires_ns) VALUES(?, ?, ?, ?, ?, ?, ?)", "add token");
  if (!st) return err(st.error());
  Use u(*st);
  u.bind(1, t.id).bind(2, sha256).bind(3, t.account).bind(4, t.label).bind(5, t.kind).bind(6, t.created_ns).bind(7, t.expires_ns);
  return u.run();
}

Result<std::optional<TokenInfo>> AccountStore::find_token(const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto st = impl_->prep(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE sha256=?", "find token");
  if (!st) return err(st.error());
  Use u(*st);
  u.bind(1, sha256);
  auto row = u.step();
  if (!row) return err(row.error());
  if (!*row) return std::optional<TokenInfo>{};
  return std::optional<TokenInfo>(token_row(u));
}

Result<std::optional<TokenInfo>> AccountStore::find_token_by_id(const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = impl_->prep(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE id=?", "find token");
  if (!st) return err(st.error());
  Use u(*st);
  u.bind(1, id);
  auto row = u.step();
  if (!row) return err(row.error());
  if (!*row) return std::optional<TokenInfo>{};
  return std::optional<TokenInfo>(token_row(u));
}

Result<std::vector<TokenInfo>> AccountStore::list_tokens(const std::string& account) {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kTokenCols + " FROM tokens" + (account.empty() ? "" : " WHERE account=?") +
                    " ORDER BY created_ns";
  auto st = impl_->prep(sql, "list tokens");
  if (!st) return err(st.error());
  Use u(*st);
  if (!account.empty()) u.bind(1, account);
  std::vector<TokenInfo> out;
  for (;;) {
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) break;
    out.push_back(token_row(u));
  }
  return out;
}

Result<Write> AccountStore::revoke_token(const std::string& id, std::int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto c = impl_->changes_of("UPDATE tokens SET revoked_ns=COALESCE(revoked_ns, ?2) WHERE id=?1", "revoke token", {id}, {now_ns});
  if (!c) return err(c.error());
  if (*c == 0) return Write{Outcome::NotFound, "no token '" + id + "'"};
  return Write{};
}

}  // namespace vigil::collector::auth
