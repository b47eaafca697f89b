// RAII for the agent's SQLite handles: one owner per sqlite3* and sqlite3_stmt*, and small helpers
// that turn SQLite result codes into Status values naming the statement that failed.
//
// Promises:
// - A Database closes its connection when destroyed (sqlite3_close_v2, so a statement that
//   outlives it by mistake is finalized safely instead of leaking the connection).
// - A Statement is prepared once and reused; Statement::Use resets it and clears its bindings on
//   scope exit, so a reused SELECT never keeps a read transaction open by accident.
// - A Transaction rolls back when destroyed without commit(), so every early error return leaves
//   the database as it was.
// Used from one thread (the connection is opened with SQLITE_OPEN_NOMUTEX).
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "shared/result.h"

namespace vigil::agent::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};

class Database {
 public:
  Database() = default;
  static Result<Database> open(const std::string& path) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    Database db;
    db.db_.reset(raw);  // owned even on failure: sqlite3_open_v2 may allocate a handle anyway
    if (rc != SQLITE_OK)
      return err("cannot open spool database " + path + ": " +
                 (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_extended_result_codes(raw, 1);
    return db;
  }
  sqlite3* get() const { return db_.get(); }
  std::string errmsg() const { return db_ ? sqlite3_errmsg(db_.get()) : "no database"; }

  // For statements without results and without parameters (pragmas, DDL).
  Status exec(std::string_view sql) const {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_.get(), std::string(sql).c_str(), nullptr, nullptr, &msg);
    if (rc == SQLITE_OK) return {};
    std::string m = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return err("SQLite failed running \"" + std::string(sql) + "\": " + m);
  }

 private:
  std::unique_ptr<sqlite3, DbCloser> db_;
};

class Statement {
 public:
  Statement() = default;

  static Result<Statement> prepare(const Database& db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    Statement s;
    s.stmt_.reset(raw);
    s.db_ = db.get();
    s.sql_ = std::string(sql);
    if (rc != SQLITE_OK) return err("SQLite cannot prepare \"" + s.sql_ + "\": " + db.errmsg());
    return s;
  }

  // Resets the statement and clears its bindings when the scope ends.
  class Use {
   public:
    explicit Use(Statement& s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_.stmt_.get());
      sqlite3_clear_bindings(s_.stmt_.get());
      s_.bind_rc_ = SQLITE_OK;
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    Statement& s_;
  };
  [[nodiscard]] Use use() { return Use(*this); }

  // Binds are 1-based; a failed bind is reported by the next step().
  void bind(int i, std::int64_t v) { note(sqlite3_bind_int64(stmt_.get(), i, v)); }
  void bind(int i, std::uint64_t v) { bind(i, static_cast<std::int64_t>(v)); }
  void bind_text(int i, std::string_view v) {
    note(sqlite3_bind_text64(stmt_.get(), i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // The blob must stay alive until the statement is stepped (no copy is made).
  void bind_blob_static(int i, std::string_view v) {
    note(sqlite3_bind_blob64(stmt_.get(), i, v.data(), v.size(), SQLITE_STATIC));
  }

  // true: a row is available; false: done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK)
      return err("SQLite cannot bind a parameter of \"" + sql_ + "\": " + sqlite3_errstr(bind_rc_));
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return err("SQLite failed running \"" + sql_ + "\": " + sqlite3_errmsg(db_));
  }
  // Steps to completion, ignoring rows.
  Status run() {
    for (;;) {
      auto r = step();
      if (!r) return err(r.error());
      if (!*r) return {};
    }
  }

  std::int64_t column_int64(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  std::uint64_t column_uint64(int i) const { return static_cast<std::uint64_t>(column_int64(i)); }
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }
  std::string column_text(int i) const {
    const auto* p = sqlite3_column_text(stmt_.get(), i);
    int n = sqlite3_column_bytes(stmt_.get(), i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }
  // Valid until the next step/reset of this statement.
  std::string_view column_blob_view(int i) const {
    const void* p = sqlite3_column_blob(stmt_.get(), i);
    int n = sqlite3_column_bytes(stmt_.get(), i);
    return p ? std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string_view();
  }
  std::string column_blob(int i) const {
    const void* p = sqlite3_column_blob(stmt_.get(), i);
    int n = sqlite3_column_bytes(stmt_.get(), i);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }

 private:
  void note(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
  sqlite3* db_ = nullptr;  // not owned: for error messages
  std::string sql_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE on construction (through begin()), ROLLBACK on destruction unless committed.
// The three statements are the owner's prepared BEGIN IMMEDIATE / COMMIT / ROLLBACK.
class Transaction {
 public:
  static Result<Transaction> begin(Statement& begin, Statement& commit, Statement& rollback) {
    auto u = begin.use();
    if (auto s = begin.run(); !s) return err("cannot start a spool transaction: " + s.error());
    return Transaction(commit, rollback);
  }
  Transaction(Transaction&& o) noexcept
      : commit_(o.commit_), rollback_(o.rollback_), active_(std::exchange(o.active_, false)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction() {
    if (active_) {
      auto u = rollback_->use();
      (void)rollback_->run();  // nothing better to do in a destructor; the next BEGIN would fail loudly
    }
  }
  Status commit() {
    auto u = commit_->use();
    if (auto s = commit_->run(); !s) return err("cannot commit a spool transaction: " + s.error());
    active_ = false;
    return {};
  }

 private:
  Transaction(Statement& commit, Statement& rollback) : commit_(&commit), rollback_(&rollback) {}
  Statement* commit_;
  Statement* rollback_;
  bool active_ = true;
};

}  // namespace vigil::agent::sqlite
