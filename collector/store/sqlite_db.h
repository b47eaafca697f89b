// Thin RAII over the SQLite C API: one owner for each sqlite3* and sqlite3_stmt*, errors as
// values whose message says what was being done ("sqlite: insert batch: database is locked").
//
// Promises:
// - Db closes its connection exactly once; Stmt finalizes its statement exactly once.
// - Stmt is prepared once (SQLITE_PREPARE_PERSISTENT) and reused; a Use borrows it for one
//   execution and always resets it and clears its bindings on scope exit, so a statement never
//   keeps a read snapshot open by accident.
// - Txn rolls back unless commit() succeeded.
// Nothing here is thread-safe: one thread uses a connection (and its statements) at a time.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil::collector::sqlite {

class Db {
 public:
  // flags: SQLITE_OPEN_* (NOMUTEX and extended result codes are always added).
  static Result<Db> open(const std::string& path, int flags);

  sqlite3* get() const { return db_.get(); }
  // Runs one or more statements that return no rows the caller needs.
  Status exec(std::string_view sql, std::string_view what);
  // First row, first column of sql as text (PRAGMA journal_mode=WAL answers "wal").
  Result<std::string> query_text(std::string_view sql, std::string_view what);
  Result<std::int64_t> query_int(std::string_view sql, std::string_view what);
  std::string errmsg() const;

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
};

class Stmt {
 public:
  Stmt() = default;
  static Result<Stmt> prepare(sqlite3* db, std::string_view sql, std::string_view what);

  sqlite3_stmt* get() const { return stmt_.get(); }
  sqlite3* db() const { return sqlite3_db_handle(stmt_.get()); }
  const std::string& what() const { return what_; }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
  std::string what_;
};

// One execution of a prepared statement. Binds are 1-based like SQLite's; text and blobs are
// bound without copying, so they must outlive the Use.
class Use {
 public:
  explicit Use(Stmt& stmt) : s_(stmt.get()), what_(&stmt.what()) {}
  ~Use();
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  Use& bind(int i, std::int64_t v);
  Use& bind(int i, std::uint64_t v) { return bind(i, static_cast<std::int64_t>(v)); }
  Use& bind(int i, std::string_view text);
  Use& bind_blob(int i, std::string_view bytes);

  // true: a row is available; false: done.
  Result<bool> step();
  // Steps to the end, ignoring rows.
  Status run();

  std::int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  std::uint64_t uint64(int col) const { return static_cast<std::uint64_t>(int64(col)); }
  std::string_view text(int col) const;
  std::string_view blob(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  Error failure(int rc) const;
  sqlite3_stmt* s_;
  const std::string* what_;
  int bind_rc_ = SQLITE_OK;
};

// A transaction on one connection: BEGIN (IMMEDIATE for writers) now, ROLLBACK on scope exit
// unless commit() succeeded.
class Txn {
 public:
  static Result<Txn> begin(Db& db, bool immediate);
  Txn(Txn&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Txn& operator=(Txn&&) = delete;
  ~Txn();
  Status commit();

 private:
  explicit Txn(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace vigil::collector::sqlite
