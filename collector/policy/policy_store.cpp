#include "collector/policy/policy_store.h"

#include <algorithm>
#include <boost/json.hpp>

#include "collector/policy/policy_json.h"
#include "collector/store/sqlite_util.h"
#include "shared/log.h"

namespace vigil::collector::policy {

namespace json = boost::json;
using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

namespace {

// AUTOINCREMENT: ids (p-<n>, d-<n>) are never handed out twice, even after the newest is deleted.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS policies(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,              -- policy_to_json (indicators resolved)
  version INTEGER NOT NULL,
  created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_dlp_rules(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL               -- dlp_rule_to_json
);
CREATE TABLE IF NOT EXISTS hr_records(
  user TEXT NOT NULL,
  kind TEXT NOT NULL,
  effective_ns INTEGER NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(user, kind, effective_ns)
);
CREATE TABLE IF NOT EXISTS user_attributes(
  user TEXT PRIMARY KEY,
  department TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  priority_groups TEXT NOT NULL DEFAULT ''   -- ';'-separated
);
)sql";

std::string join_groups(const std::vector<std::string>& g) {
  std::string out;
  for (const auto& s : g) out += (out.empty() ? "" : ";") + s;
  return out;
}

std::vector<std::string> split_groups(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto semi = s.find(';');
    auto part = s.substr(0, semi);
    if (!part.empty()) out.emplace_back(part);
    if (semi == std::string_view::npos) break;
    s.remove_prefix(semi + 1);
  }
  return out;
}

std::optional<std::int64_t> parse_id(const std::string& id, char prefix) {
  if (id.size() < 3 || id[0] != prefix || id[1] != '-' || id.size() > 20) return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
    n = n * 10 + (id[i] - '0');
  }
  return n;
}

// Runs sql with binds; returns whether a row came back and lets `row` read it.
template <typename Bind, typename Row>
Status run(Db& db, std::string_view sql, std::string_view what, Bind bind, Row row) {
  auto st = Stmt::prepare(db.get(), sql, what);
  if (!st) return err(st.error());
  Use u(*st);
  bind(u);
  return sqlite::each_row(u, row);
}

Status run(Db& db, std::string_view sql, std::string_view what, const std::function<void(Use&)>& bind) {
  return run(db, sql, what, bind, [](Use&) {});
}

}  // namespace

struct SqlitePolicyStore::Impl {
  Db db;
};

SqlitePolicyStore::SqlitePolicyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqlitePolicyStore::~SqlitePolicyStore() = default;

Result<std::shared_ptr<SqlitePolicyStore>> SqlitePolicyStore::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  auto db = sqlite::open_wal(path, sqlite::kBusyTimeoutMs);
  if (!db) return err(db.error());
  impl->db = std::move(*db);
  {
    auto txn = Txn::begin(impl->db, true);
    if (!txn) return err(txn.error());
    if (auto st = impl->db.exec(kSchema, "create policy tables"); !st) return err(st.error());
    // cases: user_attributes.email (notice recipient) joined later; older databases get the column.
    auto has_email = impl->db.query_int("SELECT count(*) FROM pragma_table_info('user_attributes') WHERE name = 'email'",
                                        "inspect user_attributes");
    if (!has_email) return err(has_email.error());
    if (*has_email == 0)
      if (auto st = impl->db.exec("ALTER TABLE user_attributes ADD COLUMN email TEXT NOT NULL DEFAULT ''", "add email column"); !st)
        return err(st.error());
    if (auto st = txn->commit(); !st) return err(st.error());
  }
  std::shared_ptr<SqlitePolicyStore> store(new SqlitePolicyStore(std::move(impl)));
  std::lock_guard lock(store->write_mu_);
  if (auto st = store->reload_locked(); !st) return err(st.error());
  return store;
}

Status SqlitePolicyStore::reload_locked() {
  auto snap = std::make_shared<Snapshot>();
  Db& db = impl_->db;
  std::string bad;
  auto st = run(
      db, "SELECT n, body, version, created_ns, updated_ns FROM policies ORDER BY n", "read policies", [](Use&) {},
      [&](Use& u) {
        boost::system::error_code ec;
        auto v = json::parse(u.text(1), ec);
        auto p = ec ? Result<Policy>(err(ec.message())) : policy_from_json(v);
        if (!p) {
          bad = "stored policy p-" + std::to_string(u.int64(0)) + " does not parse: " + p.error();
          return;
        }
        p->id = "p-" + std::to_string(u.int64(0));
        p->version = u.uint64(2);
        p->created_ns = u.int64(3);
        p->updated_ns = u.int64(4);
        snap->policies.push_back(std::move(*p));
      });
  if (!st) return st;
  if (!bad.empty()) log::error("policy", "skipping a stored policy", {{"error", bad}});
  bad.clear();
  st = run(
      db, "SELECT n, body FROM policy_dlp_rules ORDER BY n", "read DLP rules", [](Use&) {},
      [&](Use& u) {
        boost::system::error_code ec;
        auto v = json::parse(u.text(1), ec);
        auto r = ec ? Result<DlpRule>(err(ec.message())) : dlp_rule_from_json(v);
        if (!r) {
          bad = "stored DLP rule d-" + std::to_string(u.int64(0)) + " does not parse: " + r.error();
          return;
        }
        r->id = "d-" + std::to_string(u.int64(0));
        snap->dlp.push_back(std::move(*r));
      });
  if (!st) return st;
  if (!bad.empty()) log::error("policy", "skipping a stored DLP rule", {{"error", bad}});
  st = run(
      db, "SELECT user, kind, effective_ns, detail, source FROM hr_records ORDER BY user, effective_ns, kind",
      "read HR records", [](Use&) {},
      [&](Use& u) {
        auto kind = hr_kind_from_string(std::string(u.text(1)));
        if (!kind) return;
        snap->hr.push_back(HrRecord{std::string(u.text(0)), *kind, u.int64(2), std::string(u.text(3)),
                                    std::string(u.text(4))});
      });
  if (!st) return st;
  st = run(
      db, "SELECT user, department, region, manager, priority_groups, email FROM user_attributes ORDER BY user",
      "read user attributes", [](Use&) {},
      [&](Use& u) {
        snap->attributes.push_back(UserAttributes{std::string(u.text(0)), std::string(u.text(1)),
                                                  std::string(u.text(2)), std::string(u.text(3)),
                                                  split_groups(u.text(4)), std::string(u.text(5))});
      });
  if (!st) return st;
  std::lock_guard lock(snap_mu_);
  snapshot_ = std::move(snap);
  return {};
}

std::vector<Policy> SqlitePolicyStore::policies() const { return snapshot()->policies; }
std::vector<HrRecord> SqlitePolicyStore::hr_records() const { return snapshot()->hr; }
std::vector<UserAttributes> SqlitePolicyStore::user_attributes() const { return snapshot()->attributes; }
std::vector<DlpRule> SqlitePolicyStore::dlp_rules() const { return snapshot()->dlp; }

std::shared_ptr<const SqlitePolicyStore::Snapshot> SqlitePolicyStore::snapshot() const {
  // The copy a reader makes happens outside the lock: writers only swap the pointer.
  std::lock_guard lock(snap_mu_);
  return snapshot_;
}

std::optional<Policy> SqlitePolicyStore::policy(const std::string& id) const {
  for (const auto& p : snapshot()->policies)
    if (p.id == id) return p;
  return std::nullopt;
}

std::optional<DlpRule> SqlitePolicyStore::dlp_rule(const std::string& id) const {
  for (const auto& r : snapshot()->dlp)
    if (r.id == id) return r;
  return std::nullopt;
}

namespace {

// The n of the row with this name in table, if any.
Result<std::optional<std::int64_t>> find_name(Db& db, const char* table, const std::string& name) {
  std::optional<std::int64_t> n;
  auto st = run(
      db, std::string("SELECT n FROM ") + table + " WHERE name = ?1", "find name",
      [&](Use& u) { u.bind(1, std::string_view(name)); }, [&](Use& u) { n = u.int64(0); });
  if (!st) return err(st.error());
  return n;
}

}  // namespace

Result<Written<Policy>> SqlitePolicyStore::create_policy(Policy p, std::int64_t now_ns) {
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  auto taken = find_name(db, "policies", p.name);
  if (!taken) return err(taken.error());
  if (*taken) return Written<Policy>{WriteOutcome::NameTaken, {}};
  p.version = 1;
  p.created_ns = p.updated_ns = now_ns;
  p.id.clear();
  const std::string body = json::serialize(policy_to_json(p));
  auto st = run(db, "INSERT INTO policies(name, body, version, created_ns, updated_ns) VALUES(?1, ?2, 1, ?3, ?3)",
                "insert policy", [&](Use& u) {
                  u.bind(1, std::string_view(p.name)).bind(2, std::string_view(body)).bind(3, now_ns);
                });
  if (!st) return err(st.error());
  p.id = "p-" + std::to_string(sqlite3_last_insert_rowid(db.get()));
  if (auto c = txn->commit(); !c) return err(c.error());
  ++generation_;
  if (auto r = reload_locked(); !r) return err(r.error());
  return Written<Policy>{WriteOutcome::Ok, std::move(p)};
}

Result<Written<Policy>> SqlitePolicyStore::update_policy(const std::string& id, Policy p, std::int64_t now_ns) {
  auto n = parse_id(id, 'p');
  if (!n) return Written<Policy>{WriteOutcome::NotFound, {}};
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  std::optional<std::pair<std::uint64_t, std::int64_t>> cur;
  auto st = run(
      db, "SELECT version, created_ns FROM policies WHERE n = ?1", "read policy", [&](Use& u) { u.bind(1, *n); },
      [&](Use& u) { cur = std::pair{u.uint64(0), u.int64(1)}; });
  if (!st) return err(st.error());
  if (!cur) return Written<Policy>{WriteOutcome::NotFound, {}};
  auto taken = find_name(db, "policies", p.name);
  if (!taken) return err(taken.error());
  if (*taken && **taken != *n) return Written<Policy>{WriteOutcome::NameTaken, {}};
  p.id = id;
  p.version = cur->first + 1;
  p.created_ns = cur->second;
  p.updated_ns = now_ns;
  const std::string body = json::serialize(policy_to_json(p));
  st = run(db, "UPDATE policies SET name = ?2, body = ?3, version = ?4, updated_ns = ?5 WHERE n = ?1",
           "update policy", [&](Use& u) {
             u.bind(1, *n).bind(2, std::string_view(p.name)).bind(3, std::string_view(body)).bind(4, p.version).bind(5, now_ns);
           });
  if (!st) return err(st.error());
  if (auto c = txn->commit(); !c) return err(c.error());
  ++generation_;
  if (auto r = reload_locked(); !r) return err(r.error());
  return Written<Policy>{WriteOutcome::Ok, std::move(p)};
}

Result<bool> SqlitePolicyStore::delete_policy(const std::string& id) {
  auto n = parse_id(id, 'p');
  if (!n) return false;
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto st = run(db, "DELETE FROM policies WHERE n = ?1", "delete policy", [&](Use& u) { u.bind(1, *n); });
  if (!st) return err(st.error());
  if (sqlite3_changes(db.get()) == 0) return false;
  ++generation_;
  if (auto r = reload_locked(); !r) return err(r.error());
  return true;
}

Result<Written<DlpRule>> SqlitePolicyStore::create_dlp_rule(DlpRule r) {
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  auto taken = find_name(db, "policy_dlp_rules", r.name);
  if (!taken) return err(taken.error());
  if (*taken) return Written<DlpRule>{WriteOutcome::NameTaken, {}};
  r.id.clear();
  const std::string body = json::serialize(dlp_rule_to_json(r));
  auto st = run(db, "INSERT INTO policy_dlp_rules(name, body) VALUES(?1, ?2)", "insert DLP rule",
                [&](Use& u) { u.bind(1, std::string_view(r.name)).bind(2, std::string_view(body)); });
  if (!st) return err(st.error());
  r.id = "d-" + std::to_string(sqlite3_last_insert_rowid(db.get()));
  if (auto c = txn->commit(); !c) return err(c.error());
  ++generation_;
  if (auto x = reload_locked(); !x) return err(x.error());
  return Written<DlpRule>{WriteOutcome::Ok, std::move(r)};
}

Result<Written<DlpRule>> SqlitePolicyStore::update_dlp_rule(const std::string& id, DlpRule r) {
  auto n = parse_id(id, 'd');
  if (!n) return Written<DlpRule>{WriteOutcome::NotFound, {}};
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  bool exists = false;
  auto st = run(
      db, "SELECT 1 FROM policy_dlp_rules WHERE n = ?1", "read DLP rule", [&](Use& u) { u.bind(1, *n); },
      [&](Use&) { exists = true; });
  if (!st) return err(st.error());
  if (!exists) return Written<DlpRule>{WriteOutcome::NotFound, {}};
  auto taken = find_name(db, "policy_dlp_rules", r.name);
  if (!taken) return err(taken.error());
  if (*taken && **taken != *n) return Written<DlpRule>{WriteOutcome::NameTaken, {}};
  r.id = id;
  const std::string body = json::serialize(dlp_rule_to_json(r));
  st = run(db, "UPDATE policy_dlp_rules SET name = ?2, body = ?3 WHERE n = ?1", "update DLP rule",
           [&](Use& u) { u.bind(1, *n).bind(2, std::string_view(r.name)).bind(3, std::string_view(body)); });
  if (!st) return err(st.error());
  if (auto c = txn->commit(); !c) return err(c.error());
  ++generation_;
  if (auto x = reload_locked(); !x) return err(x.error());
  return Written<DlpRule>{WriteOutcome::Ok, std::move(r)};
}

Result<bool> SqlitePolicyStore::delete_dlp_rule(const std::string& id) {
  auto n = parse_id(id, 'd');
  if (!n) return false;
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto st = run(db, "DELETE FROM policy_dlp_rules WHERE n = ?1", "delete DLP rule", [&](Use& u) { u.bind(1, *n); });
  if (!st) return err(st.error());
  if (sqlite3_changes(db.get()) == 0) return false;
  ++generation_;
  if (auto r = reload_locked(); !r) return err(r.error());
  return true;
}

Result<ImportCounts> SqlitePolicyStore::upsert_hr_records(const std::vector<HrRecord>& records, bool replace) {
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  auto find = Stmt::prepare(db.get(), "SELECT detail FROM hr_records WHERE user = ?1 AND kind = ?2 AND effective_ns = ?3",
                            "find HR record");
  if (!find) return err(find.error());
  auto put = Stmt::prepare(db.get(),
                           "INSERT INTO hr_records(user, kind, effective_ns, detail, source) VALUES(?1, ?2, ?3, ?4, ?5) "
                           "ON CONFLICT(user, kind, effective_ns) DO UPDATE SET detail = excluded.detail, "
                           "source = excluded.source",
                           "upsert HR record");
  if (!put) return err(put.error());
  bool removed_any = false;
  if (replace) {
    // Rows not in the file go; rows in it are then counted against what was there before.
    if (auto st = db.exec("CREATE TEMP TABLE IF NOT EXISTS hr_keep(user TEXT, kind TEXT, effective_ns INTEGER);"
                          "DELETE FROM hr_keep;",
                          "prepare replace");
        !st)
      return err(st.error());
    auto keep = Stmt::prepare(db.get(), "INSERT INTO hr_keep VALUES(?1, ?2, ?3)", "note HR key");
    if (!keep) return err(keep.error());
    for (const auto& r : records) {
      Use u(*keep);
      u.bind(1, std::string_view(r.user)).bind(2, std::string_view(to_string(r.kind))).bind(3, r.effective_ns);
      if (auto st = u.run(); !st) return err(st.error());
    }
    if (auto st = db.exec("DELETE FROM hr_records WHERE NOT EXISTS (SELECT 1 FROM hr_keep k WHERE k.user = "
                          "hr_records.user AND k.kind = hr_records.kind AND k.effective_ns = hr_records.effective_ns)",
                          "remove HR records not in the file");
        !st)
      return err(st.error());
    removed_any = sqlite3_changes(db.get()) > 0;
  }
  ImportCounts c;
  for (const auto& r : records) {
    const std::string_view kind = to_string(r.kind);
    std::optional<std::string> existing;
    {
      Use u(*find);
      u.bind(1, std::string_view(r.user)).bind(2, kind).bind(3, r.effective_ns);
      auto row = u.step();
      if (!row) return err(row.error());
      if (*row) existing = std::string(u.text(0));
    }
    if (existing && *existing == r.detail) {
      ++c.unchanged;
      continue;
    }
    (existing ? c.updated : c.imported)++;
    Use u(*put);
    u.bind(1, std::string_view(r.user)).bind(2, kind).bind(3, r.effective_ns).bind(4, std::string_view(r.detail))
        .bind(5, std::string_view(r.source));
    if (auto st = u.run(); !st) return err(st.error());
  }
  if (auto st = txn->commit(); !st) return err(st.error());
  if (c.imported || c.updated || removed_any) {
    ++generation_;
    if (auto x = reload_locked(); !x) return err(x.error());
  }
  return c;
}

Result<ImportCounts> SqlitePolicyStore::upsert_user_attributes(const std::vector<UserAttributes>& attributes,
                                                               bool replace) {
  std::lock_guard lock(write_mu_);
  Db& db = impl_->db;
  auto txn = Txn::begin(db, true);
  if (!txn) return err(txn.error());
  auto find = Stmt::prepare(db.get(),
                            "SELECT department, region, manager, priority_groups, email FROM user_attributes WHERE user = ?1",
                            "find user attributes");
  if (!find) return err(find.error());
  auto put = Stmt::prepare(db.get(),
                           "INSERT INTO user_attributes(user, department, region, manager, priority_groups, email) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(user) DO UPDATE SET department = excluded.department, "
                           "region = excluded.region, manager = excluded.manager, email = excluded.email, "
                           "priority_groups = excluded.priority_groups",
                           "upsert user attributes");
  if (!put) return err(put.error());
  bool removed_any = false;
  if (replace) {
    if (auto st = db.exec("CREATE TEMP TABLE IF NOT EXISTS attr_keep(user TEXT PRIMARY KEY); DELETE FROM attr_keep;",
                          "prepare replace");
        !st)
      return err(st.error());
    auto keep = Stmt::prepare(db.get(), "INSERT OR IGNORE INTO attr_keep VALUES(?1)", "note user");
    if (!keep) return err(keep.error());
    for (const auto& a : attributes) {
      Use u(*keep);
      u.bind(1, std::string_view(a.user));
      if (auto st = u.run(); !st) return err(st.error());
    }
    if (auto st = db.exec("DELETE FROM user_attributes WHERE user NOT IN (SELECT user FROM attr_keep)",
                          "remove users not in the file");
        !st)
      return err(st.error());
    removed_any = sqlite3_changes(db.get()) > 0;
  }
  ImportCounts c;
  for (const auto& a : attributes) {
    const std::string groups = join_groups(a.priority_groups);
    bool exists = false, same = false;
    {
      Use u(*find);
      u.bind(1, std::string_view(a.user));
      auto row = u.step();
      if (!row) return err(row.error());
      if (*row) {
        exists = true;
        same = u.text(0) == a.department && u.text(1) == a.region && u.text(2) == a.manager && u.text(3) == groups &&
               u.text(4) == a.email;
      }
    }
    if (same) {
      ++c.unchanged;
      continue;
    }
    (exists ? c.updated : c.imported)++;
    Use u(*put);
    u.bind(1, std::string_view(a.user)).bind(2, std::string_view(a.department)).bind(3, std::string_view(a.region))
        .bind(4, std::string_view(a.manager)).bind(5, std::string_view(groups)).bind(6, std::string_view(a.email));
    if (auto st = u.run(); !st) return err(st.error());
  }
  if (auto st = txn->commit(); !st) return err(st.error());
  if (c.imported || c.updated || removed_any) {
    ++generation_;
    if (auto x = reload_locked(); !x) return err(x.error());
  }
  return c;
}

}  // namespace vigil::collector::policy
