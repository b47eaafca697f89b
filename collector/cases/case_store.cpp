#include "collector/cases/case_store.h"

#include <mutex>

#include "collector/store/sqlite_util.h"

namespace vigil::collector::cases {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cases(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL,
  title TEXT NOT NULL,
  status TEXT NOT NULL,                 -- active | escalated | resolved
  resolution TEXT NOT NULL DEFAULT '',  -- '' | benign | confirmed
  resolution_reason TEXT NOT NULL DEFAULT '',
  opened_ns INTEGER NOT NULL,
  opened_by TEXT NOT NULL,
  updated_ns INTEGER NOT NULL,
  closed_ns INTEGER NOT NULL DEFAULT 0,
  closed_by TEXT NOT NULL DEFAULT '',
  escalated_ns INTEGER NOT NULL DEFAULT 0,
  escalated_by TEXT NOT NULL DEFAULT '',
  export_dir TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS triage(
  alert_id TEXT PRIMARY KEY,            -- one decision per alert, ever
  decision TEXT NOT NULL,               -- dismissed | confirmed
  case_n INTEGER NOT NULL DEFAULT 0,    -- 0 for a dismissal
  reason TEXT NOT NULL DEFAULT '',
  by TEXT NOT NULL,
  at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS triage_by_case ON triage(case_n);
CREATE TABLE IF NOT EXISTS case_notes(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  case_n INTEGER NOT NULL,
  author TEXT NOT NULL,
  at_ns INTEGER NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_by_case ON case_notes(case_n, n);
CREATE TABLE IF NOT EXISTS notice_templates(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notices(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  case_n INTEGER NOT NULL,
  template_name TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  sender TEXT NOT NULL,
  at_ns INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notices_by_case ON notices(case_n, n);
)sql";

constexpr const char* kCaseColumns =
    "n, user, title, status, resolution, resolution_reason, opened_ns, opened_by, updated_ns, closed_ns, closed_by, "
    "escalated_ns, escalated_by, export_dir";

Case case_row(const Use& u) {
  Case c;
  c.n = u.int64(0);
  c.user = std::string(u.text(1));
  c.title = std::string(u.text(2));
  c.status = case_status_from_string(std::string(u.text(3))).value_or(CaseStatus::Active);
  c.resolution = resolution_from_string(std::string(u.text(4))).value_or(Resolution::None);
  c.resolution_reason = std::string(u.text(5));
  c.opened_ns = u.int64(6);
  c.opened_by = std::string(u.text(7));
  c.updated_ns = u.int64(8);
  c.closed_ns = u.int64(9);
  c.closed_by = std::string(u.text(10));
  c.escalated_ns = u.int64(11);
  c.escalated_by = std::string(u.text(12));
  c.export_dir = std::string(u.text(13));
  return c;
}

}  // namespace

struct CaseStore::Impl {
  std::mutex mu;
  Db db;

  // One prepared statement per call: case work is rare next to ingest, clarity wins.
  Result<Stmt> prep(std::string_view sql, std::string_view what) { return Stmt::prepare(db.get(), sql, what); }

  Status insert_triage(const std::string& alert_id, Decision d, std::int64_t case_n, const std::string& reason,
                       const std::string& by, std::int64_t now) {
    auto s = prep("INSERT INTO triage(alert_id, decision, case_n, reason, by, at_ns) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                  "record triage decision");
    if (!s) return err(s.error());
    Use u(*s);
    u.bind(1, std::string_view(alert_id)).bind(2, std::string_view(to_string(d))).bind(3, case_n);
    u.bind(4, std::string_view(reason)).bind(5, std::string_view(by)).bind(6, now);
    return u.run();
  }
  Status touch(std::int64_t case_n, std::int64_t now) {
    auto s = prep("UPDATE cases SET updated_ns = max(updated_ns, ?2) WHERE n = ?1", "touch case");
    if (!s) return err(s.error());
    Use u(*s);
    u.bind(1, case_n).bind(2, now);
    return u.run();
  }
  Result<std::vector<std::string>> alerts_of(std::int64_t case_n) {
    auto s = prep("SELECT alert_id FROM triage WHERE case_n = ?1 ORDER BY at_ns, alert_id", "read case alerts");
    if (!s) return err(s.error());
    Use u(*s);
    u.bind(1, case_n);
    return sqlite::texts(u);
  }
};

CaseStore::CaseStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CaseStore::~CaseStore() = default;

Result<std::unique_ptr<CaseStore>> CaseStore::open(const std::string& path) {
  // Created 0600 before SQLite opens it: cases name people and hold reviewers' notes.
  if (auto st = sqlite::create_private_file(path); !st) return err(st.error());
  auto impl = std::make_unique<Impl>();
  auto db = sqlite::open_wal(path, sqlite::kBusyTimeoutMs);
  if (!db) return err(db.error());
  impl->db = std::move(*db);
  if (auto st = sqlite::exec_in_txn(impl->db, kSchema, "create case tables"); !st) return err(st.error());
  return std::unique_ptr<CaseStore>(new CaseStore(std::move(impl)));
}

Result<std::vector<TriageRecord>> CaseStore::triage_records() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep("SELECT alert_id, decision, case_n, reason, by, at_ns FROM triage", "read triage");
  if (!s) return err(s.error());
  Use u(*s);
  std::vector<TriageRecord> out;
  auto rows = sqlite::each_row(u, [&](const Use& u) {
    out.push_back(TriageRecord{std::string(u.text(0)), u.text(1) == "confirmed" ? Decision::Confirmed : Decision::Dismissed,
                               u.int64(2), std::string(u.text(3)), std::string(u.text(4)), u.int64(5)});
  });
  if (!rows) return err(rows.error());
  return out;
}

Status CaseStore::dismiss(const std::vector<std::string>& alert_ids, const std::string& reason, const std::string& by,
                          std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  for (const auto& id : alert_ids)
    if (auto st = impl_->insert_triage(id, Decision::Dismissed, 0, reason, by, now); !st) return st;
  return txn->commit();
}

Result<Case> CaseStore::open_case(const std::string& user, const std::string& title,
                                  const std::vector<std::string>& alert_ids, const std::string& by, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  auto s = impl_->prep("INSERT INTO cases(user, title, status, opened_ns, opened_by, updated_ns) VALUES(?1, ?2, 'active', ?3, ?4, ?3)",
                       "open case");
  if (!s) return err(s.error());
  {
    Use u(*s);
    u.bind(1, std::string_view(user)).bind(2, std::string_view(title)).bind(3, now).bind(4, std::string_view(by));
    if (auto st = u.run(); !st) return err(st.error());
  }
  Case c;
  c.n = sqlite3_last_insert_rowid(impl_->db.get());
  c.user = user;
  c.title = title;
  c.opened_ns = c.updated_ns = now;
  c.opened_by = by;
  c.alert_ids = alert_ids;
  for (const auto& id : alert_ids)
    if (auto st = impl_->insert_triage(id, Decision::Confirmed, c.n, "", by, now); !st) return err(st.error());
  if (auto st = txn->commit(); !st) return err(st.error());
  return c;
}

Status CaseStore::attach(std::int64_t case_n, const std::vector<std::string>& alert_ids, const std::string& by,
                         std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  for (const auto& id : alert_ids)
    if (auto st = impl_->insert_triage(id, Decision::Confirmed, case_n, "", by, now); !st) return st;
  if (auto st = impl_->touch(case_n, now); !st) return st;
  return txn->commit();
}

Result<std::vector<Case>> CaseStore::cases(const CaseFilter& f) {
  std::lock_guard lock(impl_->mu);
  std::string sql = std::string("SELECT ") + kCaseColumns +
                    " FROM cases WHERE (?1 = '' OR status = ?1) AND opened_ns >= ?2 AND opened_ns < ?3 "
                    "AND updated_ns >= ?4 AND updated_ns < ?5 ORDER BY n DESC";
  auto s = impl_->prep(sql, "list cases");
  if (!s) return err(s.error());
  std::vector<Case> out;
  {
    Use u(*s);
    const std::string status = f.status ? to_string(*f.status) : "";
    u.bind(1, std::string_view(status)).bind(2, f.opened_since.value_or(INT64_MIN)).bind(3, f.opened_until.value_or(INT64_MAX));
    u.bind(4, f.updated_since.value_or(INT64_MIN)).bind(5, f.updated_until.value_or(INT64_MAX));
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      out.push_back(case_row(u));
    });
    if (!rows) return err(rows.error());
  }
  for (auto& c : out) {
    auto a = impl_->alerts_of(c.n);
    if (!a) return err(a.error());
    c.alert_ids = std::move(*a);
  }
  return out;
}

Result<std::optional<Case>> CaseStore::find_case(std::int64_t n) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep(std::string("SELECT ") + kCaseColumns + " FROM cases WHERE n = ?1", "find case");
  if (!s) return err(s.error());
  std::optional<Case> out;
  {
    Use u(*s);
    u.bind(1, n);
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return out;
    out = case_row(u);
  }
  auto a = impl_->alerts_of(n);
  if (!a) return err(a.error());
  out->alert_ids = std::move(*a);
  return out;
}

Result<Note> CaseStore::add_note(std::int64_t case_n, const std::string& author, const std::string& text, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  auto s = impl_->prep("INSERT INTO case_notes(case_n, author, at_ns, text) VALUES(?1, ?2, ?3, ?4)", "add note");
  if (!s) return err(s.error());
  {
    Use u(*s);
    u.bind(1, case_n).bind(2, std::string_view(author)).bind(3, now).bind(4, std::string_view(text));
    if (auto st = u.run(); !st) return err(st.error());
  }
  Note note{sqlite3_last_insert_rowid(impl_->db.get()), case_n, author, text, now};
  if (auto st = impl_->touch(case_n, now); !st) return err(st.error());
  if (auto st = txn->commit(); !st) return err(st.error());
  return note;
}

Result<std::vector<Note>> CaseStore::notes(std::int64_t case_n) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep("SELECT n, case_n, author, text, at_ns FROM case_notes WHERE case_n = ?1 ORDER BY n", "read notes");
  if (!s) return err(s.error());
  Use u(*s);
  u.bind(1, case_n);
  std::vector<Note> out;
  auto rows = sqlite::each_row(u, [&](const Use& u) {
    out.push_back(Note{u.int64(0), u.int64(1), std::string(u.text(2)), std::string(u.text(3)), u.int64(4)});
  });
  if (!rows) return err(rows.error());
  return out;
}

Status CaseStore::resolve(std::int64_t case_n, Resolution resolution, const std::string& reason, const std::string& by,
                          std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep(
      "UPDATE cases SET status = 'resolved', resolution = ?2, resolution_reason = ?3, closed_by = ?4, closed_ns = ?5, "
      "updated_ns = ?5 WHERE n = ?1",
      "resolve case");
  if (!s) return err(s.error());
  Use u(*s);
  u.bind(1, case_n).bind(2, std::string_view(to_string(resolution))).bind(3, std::string_view(reason));
  u.bind(4, std::string_view(by)).bind(5, now);
  return u.run();
}

Status CaseStore::mark_escalated(std::int64_t case_n, const std::string& export_dir, const std::string& by, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep(
      "UPDATE cases SET status = 'escalated', export_dir = ?2, escalated_by = ?3, escalated_ns = ?4, updated_ns = ?4 "
      "WHERE n = ?1",
      "escalate case");
  if (!s) return err(s.error());
  Use u(*s);
  u.bind(1, case_n).bind(2, std::string_view(export_dir)).bind(3, std::string_view(by)).bind(4, now);
  return u.run();
}

Result<std::optional<NoticeTemplate>> CaseStore::add_template(const NoticeTemplate& t) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep(
      "INSERT INTO notice_templates(name, subject, body, created_by, created_ns) VALUES(?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(name) DO NOTHING",
      "add notice template");
  if (!s) return err(s.error());
  Use u(*s);
  u.bind(1, std::string_view(t.name)).bind(2, std::string_view(t.subject)).bind(3, std::string_view(t.body));
  u.bind(4, std::string_view(t.created_by)).bind(5, t.created_ns);
  if (auto st = u.run(); !st) return err(st.error());
  if (sqlite3_changes(impl_->db.get()) == 0) return std::optional<NoticeTemplate>{};
  NoticeTemplate out = t;
  out.n = sqlite3_last_insert_rowid(impl_->db.get());
  return std::optional<NoticeTemplate>{std::move(out)};
}

Result<std::vector<NoticeTemplate>> CaseStore::templates() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep("SELECT n, name, subject, body, created_by, created_ns FROM notice_templates ORDER BY n", "read templates");
  if (!s) return err(s.error());
  Use u(*s);
  std::vector<NoticeTemplate> out;
  auto rows = sqlite::each_row(u, [&](const Use& u) {
    out.push_back(NoticeTemplate{u.int64(0), std::string(u.text(1)), std::string(u.text(2)), std::string(u.text(3)),
                                 std::string(u.text(4)), u.int64(5)});
  });
  if (!rows) return err(rows.error());
  return out;
}

Result<Notice> CaseStore::add_notice(const Notice& m) {
  std::lock_guard lock(impl_->mu);
  auto txn = Txn::begin(impl_->db, true);
  if (!txn) return err(txn.error());
  auto s = impl_->prep(
      "INSERT INTO notices(case_n, template_name, recipient, subject, body, sender, at_ns, delivered, error) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      "record notice");
  if (!s) return err(s.error());
  {
    Use u(*s);
    u.bind(1, m.case_n).bind(2, std::string_view(m.template_name)).bind(3, std::string_view(m.recipient));
    u.bind(4, std::string_view(m.subject)).bind(5, std::string_view(m.body)).bind(6, std::string_view(m.sender));
    u.bind(7, m.at_ns).bind(8, std::int64_t{m.delivered ? 1 : 0}).bind(9, std::string_view(m.error));
    if (auto st = u.run(); !st) return err(st.error());
  }
  Notice out = m;
  out.n = sqlite3_last_insert_rowid(impl_->db.get());
  if (auto st = impl_->touch(m.case_n, m.at_ns); !st) return err(st.error());
  if (auto st = txn->commit(); !st) return err(st.error());
  return out;
}

Result<std::vector<Notice>> CaseStore::notices(std::int64_t case_n) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->prep(
      "SELECT n, case_n, template_name, recipient, subject, body, sender, at_ns, delivered, error FROM notices "
      "WHERE case_n = ?1 ORDER BY n",
      "read notices");
  if (!s) return err(s.error());
  Use u(*s);
  u.bind(1, case_n);
  std::vector<Notice> out;
  auto rows = sqlite::each_row(u, [&](const Use& u) {
    Notice m;
    m.n = u.int64(0);
    m.case_n = u.int64(1);
    m.template_name = std::string(u.text(2));
    m.recipient = std::string(u.text(3));
    m.subject = std::string(u.text(4));
    m.body = std::string(u.text(5));
    m.sender = std::string(u.text(6));
    m.at_ns = u.int64(7);
    m.delivered = u.int64(8) != 0;
    m.error = std::string(u.text(9));
    out.push_back(std::move(m));
  });
  if (!rows) return err(rows.error());
  return out;
}

}  // namespace vigil::collector::cases
