#include "collector/audit/audit_log.h"

#include <sstream>

#include "collector/store/sqlite_util.h"
#include "shared/crypto.h"
#include "shared/file_util.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector::audit {

namespace {

// Long paths or details are cut so one request cannot write an arbitrarily large record.
constexpr std::size_t kMaxFieldBytes = 2048;
constexpr int kBusyTimeoutMs = 5000;
constexpr std::string_view kHeadMagic = "vigil-audit-head-v1";
constexpr std::string_view kRecordColumns =
    "id, time_ns, actor, remote, action, target, status, detail, count, prev_hash, hash, mac";

std::string capped(std::string_view s) {
  if (s.size() <= kMaxFieldBytes) return std::string(s);
  return std::string(s.substr(0, kMaxFieldBytes)) + "...(cut)";
}

AuditRecord row_to_record(const sqlite::Use& u) {
  AuditRecord r;
  r.id = u.int64(0);
  r.time_ns = u.int64(1);
  r.actor = u.text(2);
  r.remote = u.text(3);
  r.action = u.text(4);
  r.target = u.text(5);
  r.status = static_cast<int>(u.int64(6));
  r.detail = u.text(7);
  r.count = u.int64(8);
  r.prev_hash = u.text(9);
  r.hash = u.text(10);
  r.mac = u.text(11);
  return r;
}

struct Head {
  std::int64_t id = 0;
  std::string hash, mac;
};

// nullopt: no head file. Error: a head file that cannot be read or parsed.
Result<std::optional<Head>> read_head(const std::string& path) {
  if (!file_exists(path)) return std::optional<Head>{};
  auto text = read_file(path);
  if (!text) return err(text.error());
  std::istringstream in(*text);
  std::string magic;
  Head h;
  if (!(in >> magic >> h.id >> h.hash >> h.mac) || magic != kHeadMagic)
    return err(path + " is not an audit head file (expected '" + std::string(kHeadMagic) + " ID HASH MAC')");
  return std::optional<Head>{h};
}

Status write_head(const std::string& path, const std::string& key, std::int64_t id, const std::string& hash) {
  return write_file_atomic(path, std::string(kHeadMagic) + " " + std::to_string(id) + " " + hash + " " +
                                     head_mac(key, id, hash) + "\n", 0600);
}

Result<std::string> read_key(const std::string& path) {
  auto text = read_file(path);
  if (!text) return err(text.error());
  std::string key = *text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() < 32) return err(path + " holds no usable key (expected 64 hex digits)");
  return key;
}

// Walks every record in id order; the report names the first that does not check out.
Result<VerifyReport> verify_chain(sqlite::Db& db, const std::string& key, const std::string& head_path) {
  VerifyReport rep;
  auto head = read_head(head_path);
  if (!head) {
    rep.ok = false;
    rep.reason = head.error();
    return rep;
  }
  if (*head) rep.head_id = (*head)->id;
  auto stmt = sqlite::Stmt::prepare(db.get(), "SELECT " + std::string(kRecordColumns) + " FROM audit_log ORDER BY id",
                                    "read audit records");
  if (!stmt) return err(stmt.error());
  sqlite::Use use(*stmt);
  std::string prev(kGenesisHash);
  std::int64_t prev_id = 0;
  std::string head_hash_seen;
  auto broken = [&](std::int64_t id, std::string reason) {
    rep.ok = false;
    rep.broken_id = id;
    rep.reason = std::move(reason);
    return rep;
  };
  for (;;) {
    auto row = use.step();
    if (!row) return err(row.error());
    if (!*row) break;
    AuditRecord r = row_to_record(use);
    ++rep.records;
    if (r.id != prev_id + 1)
      return broken(prev_id + 1, "record " + std::to_string(prev_id + 1) + (r.id > prev_id + 1 && r.id - prev_id > 2
                                                                                 ? " to " + std::to_string(r.id - 1)
                                                                                 : "") +
                                     " is missing (deleted): the next stored record is " + std::to_string(r.id));
    if (record_hash(r.prev_hash, r) != r.hash)
      return broken(r.id, "record " + std::to_string(r.id) + " does not match its hash: its content was edited");
    if (r.prev_hash != prev)
      return broken(r.id, "record " + std::to_string(r.id) + " does not chain to record " + std::to_string(prev_id) +
                              ": a record before it was removed, replaced or reordered");
    if (!crypto::constant_time_equal(record_mac(key, r.hash), r.mac))
      return broken(r.id, "record " + std::to_string(r.id) +
                              " has a MAC that does not verify: the chain was rewritten without the key, or audit.key is not this log's key");
    if (*head && r.id == (*head)->id) head_hash_seen = r.hash;
    prev = r.hash;
    prev_id = r.id;
  }
  if (!*head) {
    if (rep.records > 0) return broken(prev_id, "audit.head is missing: the end of the log cannot be checked");
    return rep;
  }
  const Head& h = **head;
  if (!crypto::constant_time_equal(head_mac(key, h.id, h.hash), h.mac))
    return broken(h.id, "audit.head has a MAC that does not verify: it was edited or replaced");
  if (h.id > prev_id)
    return broken(prev_id + 1, "the tail was truncated: audit.head says the log ends at record " + std::to_string(h.id) +
                                   " but the last stored record is " + std::to_string(prev_id));
  if (h.id > 0 && head_hash_seen != h.hash)
    return broken(h.id, "record " + std::to_string(h.id) + " is not the record audit.head names: the log was rewritten");
  if (h.id < prev_id)
    return broken(h.id + 1, "records " + std::to_string(h.id + 1) + " to " + std::to_string(prev_id) +
                                " come after audit.head: the head is stale (an older copy was put back)");
  return rep;
}

}  // namespace

struct AuditLog::Impl {
  std::string dir, head_path, key;
  sqlite::Db db;
  sqlite::Stmt insert;
  std::int64_t last_id = 0;
  std::string last_hash{kGenesisHash};
  RefusalLimiter limiter;

  Impl(sqlite::Db d, AuditLogOptions o)
      : db(std::move(d)), limiter(o.refusal_window_ns, o.refusal_max_hosts) {}

  Status append(AuditRecord r) {
    r.id = last_id + 1;
    r.actor = capped(r.actor);
    r.remote = capped(r.remote);
    r.action = capped(r.action);
    r.target = capped(r.target);
    r.detail = capped(r.detail);
    r.prev_hash = last_hash;
    r.hash = record_hash(r.prev_hash, r);
    r.mac = record_mac(key, r.hash);
    {
      sqlite::Use u(insert);
      u.bind(1, r.id).bind(2, r.time_ns).bind(3, r.actor).bind(4, r.remote).bind(5, r.action).bind(6, r.target)
          .bind(7, static_cast<std::int64_t>(r.status)).bind(8, r.detail).bind(9, r.count).bind(10, r.prev_hash)
          .bind(11, r.hash).bind(12, r.mac);
      if (auto s = u.run(); !s) return err("audit log: " + s.error());
    }
    last_id = r.id;
    last_hash = r.hash;
    // A crash between the commit and this rename leaves the head one record behind; open()
    // repairs exactly that case after checking the record's MAC.
    if (auto s = write_head(head_path, key, last_id, last_hash); !s) return err("audit log: writing audit.head: " + s.error());
    return {};
  }

  Status write_summaries(const std::vector<HeldBack>& held) {
    for (const auto& h : held) {
      AuditRecord r;
      r.time_ns = now_ns();
      r.remote = h.host;
      r.action = "refused_unauthenticated";
      r.status = 401;
      r.count = h.count;
      r.detail = std::to_string(h.count) + " more unauthenticated requests from " + h.host + " refused in the minute from " +
                 format_rfc3339(h.first_ns, 0) + ", not recorded one by one (rate limit)";
      if (auto s = append(std::move(r)); !s) return s;
    }
    return {};
  }
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  std::lock_guard lock(mu_);
  if (auto s = impl_->write_summaries(impl_->limiter.drain()); !s)
    log::error("audit", "could not record the refusals held back by the rate limit", {{"error", s.error()}});
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& dir, AuditLogOptions options) {
  const std::string db_path = dir + "/audit.db", key_path = dir + "/audit.key", head_path = dir + "/audit.head";
  const bool had_db = file_exists(db_path);
  if (!file_exists(key_path)) {
    if (had_db || file_exists(head_path))
      return err(key_path + " is missing but the audit log exists: without its key the log can be neither verified nor "
                            "continued (restore the key, or move audit.db and audit.head aside to start a new log)");
    if (auto s = write_file_atomic(key_path, crypto::sha256_hex(crypto::random_bytes(32)) + "\n", 0600); !s)
      return err("creating " + key_path + ": " + s.error());
  }
  auto key = read_key(key_path);
  if (!key) return err(key.error());
  if (auto s = sqlite::create_private_file(db_path); !s) return err(s.error());
  auto db = sqlite::open_wal(db_path, kBusyTimeoutMs);
  if (!db) return err(db.error());
  // FULL: a record must survive a power cut once record() returned.
  if (auto s = db->exec("PRAGMA synchronous=FULL;"
                        "CREATE TABLE IF NOT EXISTS audit_log ("
                        " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, actor TEXT NOT NULL, remote TEXT NOT NULL,"
                        " action TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL, detail TEXT NOT NULL,"
                        " count INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);"
                        "CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time_ns);"
                        // Append-only by construction; the chain is what detects someone who drops these.
                        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
                        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
                        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
                        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
                        "create audit log");
      !s)
    return err(s.error());
  auto impl = std::make_unique<Impl>(std::move(*db), options);
  impl->dir = dir;
  impl->head_path = head_path;
  impl->key = std::move(*key);
  auto insert = sqlite::Stmt::prepare(impl->db.get(),
                                      "INSERT INTO audit_log (" + std::string(kRecordColumns) +
                                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                      "insert audit record");
  if (!insert) return err(insert.error());
  impl->insert = std::move(*insert);

  // The tail as stored, and whether audit.head agrees with it.
  {
    auto last = sqlite::Stmt::prepare(impl->db.get(),
                                      "SELECT " + std::string(kRecordColumns) + " FROM audit_log ORDER BY id DESC LIMIT 2",
                                      "read audit tail");
    if (!last) return err(last.error());
    sqlite::Use u(*last);
    std::vector<AuditRecord> tail;
    auto rows = sqlite::each_row(u, [&](const sqlite::Use& u) {
      tail.push_back(row_to_record(u));
    });
    if (!rows) return err(rows.error());
    auto head = read_head(head_path);
    if (!head) return err(head.error());
    const std::int64_t last_id = tail.empty() ? 0 : tail[0].id;
    auto refuse = [&](const std::string& why) {
      return err("audit log in " + dir + ": " + why +
                 ". The collector will not write over this evidence: keep a copy of audit.db, audit.head and audit.key, "
                 "then move audit.db and audit.head aside to start a new log");
    };
    if (!*head && last_id > 0) return refuse("audit.head is missing");
    if (*head) {
      const Head& h = **head;
      if (!crypto::constant_time_equal(head_mac(impl->key, h.id, h.hash), h.mac))
        return refuse("audit.head does not verify with audit.key");
      if (h.id > last_id)
        return refuse("the tail was truncated (audit.head names record " + std::to_string(h.id) + ", the last stored is " +
                      std::to_string(last_id) + ")");
      if (h.id == last_id && h.id > 0 && tail[0].hash != h.hash) return refuse("the last record is not the one audit.head names");
      if (h.id + 1 == last_id) {
        // The crash window of append(): committed, head not yet renamed. Accept the record only if
        // it is genuine (keyed) and follows the head.
        const AuditRecord& r = tail[0];
        if (r.prev_hash != h.hash || record_hash(r.prev_hash, r) != r.hash ||
            !crypto::constant_time_equal(record_mac(impl->key, r.hash), r.mac))
          return refuse("record " + std::to_string(r.id) + " after audit.head does not verify");
        if (auto s = write_head(head_path, impl->key, r.id, r.hash); !s) return err(s.error());
        log::warn("audit", "audit.head was one record behind (a crash after a commit); moved it forward",
                  {{"id", std::to_string(r.id)}});
      } else if (h.id + 1 < last_id) {
        return refuse("audit.head is " + std::to_string(last_id - h.id) + " records behind the database (an older copy was put back)");
      }
    }
    if (!tail.empty()) {
      impl->last_id = tail[0].id;
      impl->last_hash = tail[0].hash;
    }
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Status AuditLog::record(const AuditEntry& entry) {
  std::lock_guard lock(mu_);
  const std::int64_t t = now_ns();
  if (auto s = impl_->write_summaries(impl_->limiter.expired(t)); !s) return s;
  if (entry.status == 401 && !impl_->limiter.admit(host_of(entry.remote), t)) return {};
  AuditRecord r;
  r.time_ns = t;
  r.actor = entry.actor;
  r.remote = entry.remote;
  r.action = entry.action;
  r.target = entry.target;
  r.status = entry.status;
  r.detail = entry.detail;
  return impl_->append(std::move(r));
}

Result<AuditPage> AuditLog::list(const AuditQuery& q) {
  std::lock_guard lock(mu_);
  std::string sql = "SELECT " + std::string(kRecordColumns) + " FROM audit_log WHERE 1";
  int n = 0;
  std::vector<std::pair<int, std::string>> texts;
  std::vector<std::pair<int, std::int64_t>> ints;
  if (q.actor) sql += " AND actor = ?" + std::to_string(++n), texts.emplace_back(n, *q.actor);
  // Prefixes compared with substr, not LIKE, so '%' and '_' in a filter mean themselves.
  if (q.action) {
    const std::string p = "?" + std::to_string(++n);
    sql += " AND substr(action, 1, length(" + p + ")) = " + p;
    texts.emplace_back(n, *q.action);
  }
  if (q.target) {
    const std::string p = "?" + std::to_string(++n);
    sql += " AND substr(target, 1, length(" + p + ")) = " + p;
    texts.emplace_back(n, *q.target);
  }
  if (q.since_ns) sql += " AND time_ns >= ?" + std::to_string(++n), ints.emplace_back(n, *q.since_ns);
  if (q.until_ns) sql += " AND time_ns < ?" + std::to_string(++n), ints.emplace_back(n, *q.until_ns);
  if (q.before_id) sql += " AND id < ?" + std::to_string(++n), ints.emplace_back(n, *q.before_id);
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(++n);
  ints.emplace_back(n, static_cast<std::int64_t>(q.limit + 1));
  auto stmt = sqlite::Stmt::prepare(impl_->db.get(), sql, "list audit records");
  if (!stmt) return err(stmt.error());
  sqlite::Use u(*stmt);
  for (const auto& [i, v] : texts) u.bind(i, std::string_view(v));
  for (const auto& [i, v] : ints) u.bind(i, v);
  AuditPage page;
  for (;;) {
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) break;
    if (page.records.size() == q.limit) {
      page.next_before = page.records.back().id;
      break;
    }
    page.records.push_back(row_to_record(u));
  }
  return page;
}

Result<VerifyReport> AuditLog::verify() {
  std::lock_guard lock(mu_);
  return verify_chain(impl_->db, impl_->key, impl_->head_path);
}

Result<VerifyReport> verify_audit_files(const std::string& dir) {
  auto key = read_key(dir + "/audit.key");
  if (!key) return err(key.error());
  auto db = sqlite::Db::open(dir + "/audit.db", SQLITE_OPEN_READONLY);
  if (!db) return err(db.error());
  return verify_chain(*db, *key, dir + "/audit.head");
}

}  // namespace vigil::collector::audit
