#include "collector/siem/siem_outbox.h"

#include "collector/store/sqlite_util.h"

namespace vigil::collector::siem {

namespace {

constexpr int kBusyTimeoutMs = 5000;

}  // namespace

struct SiemOutbox::Impl {
  sqlite::Db db;
  sqlite::Stmt insert, select, get_cursor, put_cursor, prune;
};

SiemOutbox::SiemOutbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SiemOutbox::~SiemOutbox() = default;

Result<std::unique_ptr<SiemOutbox>> SiemOutbox::open(const std::string& path) {
  if (auto s = sqlite::create_private_file(path); !s) return err(s.error());
  auto db = sqlite::open_wal(path, kBusyTimeoutMs);
  if (!db) return err(db.error());
  if (auto s = db->exec("PRAGMA synchronous=FULL;"
                        // AUTOINCREMENT: a seq is never reused, even after pruning empties the table,
                        // so a receiver's duplicate detection by seq stays sound.
                        "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
                        " severity INTEGER NOT NULL, time_ns INTEGER NOT NULL, body TEXT NOT NULL);"
                        "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
                        "create SIEM outbox");
      !s)
    return err(s.error());
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(*db);
  auto st = sqlite::prepare_all(
      impl->db,
      {
          {&impl->insert, "INSERT INTO outbox (kind, severity, time_ns, body) VALUES (?1, ?2, ?3, ?4)", "queue SIEM item"},
          {&impl->select,
           "SELECT seq, kind, severity, time_ns, body FROM outbox WHERE seq > "
           "(SELECT coalesce((SELECT value FROM cursors WHERE name = 'sent'), 0)) ORDER BY seq LIMIT ?1",
           "read SIEM items"},
          {&impl->get_cursor, "SELECT value FROM cursors WHERE name = ?1", "read SIEM cursor"},
          {&impl->put_cursor,
           "INSERT INTO cursors (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
           "move SIEM cursor"},
          {&impl->prune, "DELETE FROM outbox WHERE seq <= ?1", "prune sent SIEM items"},
      });
  if (!st) return err(st.error());
  return std::unique_ptr<SiemOutbox>(new SiemOutbox(std::move(impl)));
}

Result<std::int64_t> SiemOutbox::push(const OutboxItem& item) {
  std::lock_guard lock(mu_);
  sqlite::Use u(impl_->insert);
  u.bind(1, std::string_view(item.kind)).bind(2, static_cast<std::int64_t>(item.severity)).bind(3, item.time_ns)
      .bind(4, std::string_view(item.body));
  if (auto s = u.run(); !s) return err(s.error());
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(impl_->db.get()));
}

Status SiemOutbox::push_all(const std::vector<OutboxItem>& items, const std::string& cursor, std::int64_t value) {
  std::lock_guard lock(mu_);
  auto txn = sqlite::Txn::begin(impl_->db, /*immediate=*/true);
  if (!txn) return err(txn.error());
  for (const auto& item : items) {
    sqlite::Use u(impl_->insert);
    u.bind(1, std::string_view(item.kind)).bind(2, static_cast<std::int64_t>(item.severity)).bind(3, item.time_ns)
        .bind(4, std::string_view(item.body));
    if (auto s = u.run(); !s) return err(s.error());
  }
  {
    sqlite::Use u(impl_->put_cursor);
    u.bind(1, std::string_view(cursor)).bind(2, value);
    if (auto s = u.run(); !s) return err(s.error());
  }
  return txn->commit();
}

Result<std::vector<OutboxItem>> SiemOutbox::pending(std::size_t limit) {
  std::lock_guard lock(mu_);
  sqlite::Use u(impl_->select);
  u.bind(1, static_cast<std::int64_t>(limit));
  std::vector<OutboxItem> out;
  auto rows = sqlite::each_row(u, [&](const sqlite::Use& u) {
    OutboxItem it;
    it.seq = u.int64(0);
    it.kind = u.text(1);
    it.severity = static_cast<int>(u.int64(2));
    it.time_ns = u.int64(3);
    it.body = u.text(4);
    out.push_back(std::move(it));
  });
  if (!rows) return err(rows.error());
  return out;
}

Status SiemOutbox::set_cursor(const std::string& name, std::int64_t value) {
  std::lock_guard lock(mu_);
  sqlite::Use u(impl_->put_cursor);
  u.bind(1, std::string_view(name)).bind(2, value);
  return u.run();
}

Status SiemOutbox::advance(std::int64_t sent_seq) {
  if (auto s = set_cursor("sent", sent_seq); !s) return s;
  std::lock_guard lock(mu_);
  sqlite::Use u(impl_->prune);
  u.bind(1, sent_seq);
  return u.run();
}

Result<std::int64_t> SiemOutbox::cursor(const std::string& name) {
  std::lock_guard lock(mu_);
  sqlite::Use u(impl_->get_cursor);
  u.bind(1, std::string_view(name));
  auto row = u.step();
  if (!row) return err(row.error());
  return *row ? u.int64(0) : std::int64_t{0};
}

Result<std::int64_t> SiemOutbox::sent_cursor() { return cursor("sent"); }

}  // namespace vigil::collector::siem
