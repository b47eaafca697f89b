#include "collector/store/sqlite_db.h"

namespace vigil::collector::sqlite {

namespace {

Error sqlite_error(sqlite3* db, std::string_view what) {
  return err("sqlite: " + std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Result<Db> Db::open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db;
  db.db_.reset(raw);  // sqlite3_open_v2 hands out a handle to close even when it fails
  if (rc != SQLITE_OK) return sqlite_error(raw, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Db::exec(std::string_view sql, std::string_view what) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db_.get(), std::string(sql).c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return {};
  std::string text = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  return err("sqlite: " + std::string(what) + ": " + text);
}

Result<std::string> Db::query_text(std::string_view sql, std::string_view what) {
  auto stmt = Stmt::prepare(db_.get(), sql, what);
  if (!stmt) return err(stmt.error());
  Use use(*stmt);
  auto row = use.step();
  if (!row) return err(row.error());
  if (!*row) return err("sqlite: " + std::string(what) + ": no result");
  return std::string(use.text(0));
}

Result<std::int64_t> Db::query_int(std::string_view sql, std::string_view what) {
  auto stmt = Stmt::prepare(db_.get(), sql, what);
  if (!stmt) return err(stmt.error());
  Use use(*stmt);
  auto row = use.step();
  if (!row) return err(row.error());
  if (!*row) return err("sqlite: " + std::string(what) + ": no result");
  return use.int64(0);
}

std::string Db::errmsg() const { return sqlite3_errmsg(db_.get()); }

Result<Stmt> Stmt::prepare(sqlite3* db, std::string_view sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &raw, nullptr);
  Stmt s;
  s.stmt_.reset(raw);
  s.what_ = std::string(what);
  if (rc != SQLITE_OK) return sqlite_error(db, "prepare " + std::string(what));
  if (!raw) return err("sqlite: prepare " + std::string(what) + ": empty statement");
  return s;
}

Use::~Use() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Use& Use::bind(int i, std::int64_t v) {
  int rc = sqlite3_bind_int64(s_, i, v);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Use& Use::bind(int i, std::string_view text) {
  // A default string_view has no data pointer, which SQLite would store as NULL, not ''.
  int rc = sqlite3_bind_text64(s_, i, text.data() ? text.data() : "", text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Use& Use::bind_blob(int i, std::string_view bytes) {
  // A zero-length blob bound from a null pointer would read back as NULL; keep it a blob.
  static const char kEmpty = 0;
  int rc = sqlite3_bind_blob64(s_, i, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(), SQLITE_STATIC);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Error Use::failure(int rc) const {
  sqlite3* db = sqlite3_db_handle(s_);
  // sqlite3_errmsg describes the last failing call on the connection; for bind failures the
  // result code is all there is.
  std::string msg = rc == SQLITE_RANGE || rc == SQLITE_TOOBIG || rc == SQLITE_NOMEM
                        ? std::string(sqlite3_errstr(rc))
                        : std::string(sqlite3_errmsg(db));
  return err("sqlite: " + *what_ + ": " + msg);
}

Result<bool> Use::step() {
  if (bind_rc_ != SQLITE_OK) return failure(bind_rc_);
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return failure(rc);
}

Status Use::run() {
  for (;;) {
    auto row = step();
    if (!row) return err(row.error());
    if (!*row) return {};
  }
}

std::string_view Use::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
}

std::string_view Use::blob(int col) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
}

Result<Txn> Txn::begin(Db& db, bool immediate) {
  auto st = db.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN", "begin transaction");
  if (!st) return err(st.error());
  return Txn(&db);
}

Txn::~Txn() {
  // After a failed COMMIT SQLite may already have rolled back; only roll back what is open.
  if (db_ && !sqlite3_get_autocommit(db_->get())) (void)db_->exec("ROLLBACK", "rollback");
}

Status Txn::commit() {
  auto st = db_->exec("COMMIT", "commit");
  if (st) db_ = nullptr;
  return st;
}

}  // namespace vigil::collector::sqlite
