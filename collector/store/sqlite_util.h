// What the collector's SQLite stores (auth, cases, audit, alerts, policies, SIEM outbox, events)
// all do around sqlite_db.h's RAII types, written once. sqlite_db.h owns the handles (Db, Stmt,
// Use, Txn); this file owns the recurring steps built from them.
//
// Promises:
// - Every failure is an Error value naming the step ("sqlite: create case tables: ..."); nothing
//   here throws or aborts.
// - exec_in_txn leaves nothing of a failed script behind: BEGIN IMMEDIATE, then COMMIT only if
//   every statement succeeded; any other exit rolls back (Txn's scope guard).
// - each_row/texts stop at the first step error and return it; rows seen before it were handed
//   to the callback already.
// - prepare_all prepares every statement or reports the first one that failed; what it prepared
//   before the failure stays owned by the Stmt it was written to.
// - create_private_file leaves a file of mode 0600 (created or tightened), so a database that
//   names people never exists world-readable, not even for the instant before SQLite opens it.
// Not thread-safe, like sqlite_db.h: one thread per connection at a time.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/sqlite_db.h"

namespace vigil::collector::sqlite {

// How long a store's connection waits for another connection's lock before giving up with
// SQLITE_BUSY: long enough to ride out a checkpoint or a large group commit.
inline constexpr int kBusyTimeoutMs = 10'000;

// Creates path if missing, mode 0600 either way.
Status create_private_file(const std::string& path);

// A read-write connection (the file is created if missing) that waits up to busy_timeout_ms for
// a lock and journals in WAL mode, so readers never block the writer.
Result<Db> open_wal(const std::string& path, int busy_timeout_ms);

// Runs sql (one or more statements) as one IMMEDIATE transaction.
Status exec_in_txn(Db& db, std::string_view sql, std::string_view what);

// Steps u to the end, calling on_row(u) for every row.
template <typename OnRow>
Status each_row(Use& u, OnRow&& on_row) {
  for (;;) {
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return {};
    on_row(u);
  }
}

// Column col of every row, as text.
Result<std::vector<std::string>> texts(Use& u, int col = 0);

struct StmtSpec {
  Stmt* into;
  std::string_view sql;
  std::string_view what;
};
Status prepare_all(Db& db, std::initializer_list<StmtSpec> specs);

}  // namespace vigil::collector::sqlite
