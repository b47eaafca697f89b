#include "collector/store/sqlite_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::collector::sqlite {

Status create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return err("creating " + path + ": " + std::strerror(errno));
  // O_CREAT's mode applies only to a new file; an existing one may have been made wider.
  int rc = ::fchmod(fd, 0600);
  ::close(fd);
  if (rc != 0) return err("chmod 0600 " + path + ": " + std::strerror(errno));
  return {};
}

Result<Db> open_wal(const std::string& path, int busy_timeout_ms) {
  auto db = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return err(db.error());
  // The timeout first: switching to WAL takes a lock another process may hold.
  if (auto st = db->exec("PRAGMA busy_timeout=" + std::to_string(busy_timeout_ms), "configure connection"); !st)
    return err(st.error());
  if (auto mode = db->query_text("PRAGMA journal_mode=WAL", "set journal mode"); !mode) return err(mode.error());
  return db;
}

Status exec_in_txn(Db& db, std::string_view sql, std::string_view what) {
  auto txn = Txn::begin(db, /*immediate=*/true);
  if (!txn) return err(txn.error());
  if (auto st = db.exec(sql, what); !st) return st;
  return txn->commit();
}

Result<std::vector<std::string>> texts(Use& u, int col) {
  std::vector<std::string> out;
  if (auto st = each_row(u, [&](const Use& row) { out.emplace_back(row.text(col)); }); !st) return err(st.error());
  return out;
}

Status prepare_all(Db& db, std::initializer_list<StmtSpec> specs) {
  for (const auto& s : specs) {
    auto st = Stmt::prepare(db.get(), s.sql, s.what);
    if (!st) return err(st.error());
    *s.into = std::move(*st);
  }
  return {};
}

}  // namespace vigil::collector::sqlite
