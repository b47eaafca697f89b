// SQLite EventStore: a chunk store. Each batch the agent sent is one row holding its zstd blob
// exactly as received, indexed by (device, seq range), time range and (user, day, type); queries
// pick candidate batches through those indexes and decode only them. Measured in
// ../shared/DESIGN.md ("Storage: measured before designed"): one row per event tops out near 43k
// events/s here, one row per batch is bound by write bandwidth.
//
// Concurrency: one writer connection behind a mutex (SQLite allows one writer anyway); readers
// come from a small pool of connections, each used by one thread at a time, so under WAL queries
// read a consistent snapshot while ingest commits.
#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "collector/store/activity_query.h"
#include "collector/store/sqlite_util.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "shared/time_util.h"

namespace vigil::collector {
namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

constexpr std::int64_t kSchemaVersion = 2;
constexpr std::int64_t kDayNs = 86'400'000'000'000;
constexpr std::size_t kMaxIdleReaders = 4;
// Stored batches were checked against the wire limits when they arrived; reading them back uses
// wider limits so a later change of the wire limits never makes old data unreadable.
constexpr BatchLimits kStoredBatchLimits{256u << 20, 1'000'000};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS batches(
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  min_time_ns INTEGER NOT NULL,
  max_time_ns INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  payload BLOB NOT NULL,            -- zstd(EventBatch) exactly as the agent sent it
  UNIQUE(device_id, first_seq)
);
-- Newest-first scans by (device and) max time; min_time_ns rides along so an "until" bound is
-- checked in the index, without reading each batch row.
CREATE INDEX IF NOT EXISTS batches_by_device_time ON batches(device_id, max_time_ns, min_time_ns);
CREATE INDEX IF NOT EXISTS batches_by_time ON batches(max_time_ns, min_time_ns);
-- One row per distinct (user, day, type, channel) in a batch, with how many events it stands for
-- and their time range: the primary key serves (user, day) lookups, totals are summed from these
-- rows without decoding, and a row's own time range lets paging skip batches that only hold other
-- users' newer events. Schema version 2 (version 1 had batch_keys without counts and channel).
CREATE TABLE IF NOT EXISTS activity_keys(
  user TEXT NOT NULL,
  day INTEGER NOT NULL,             -- floor(time_ns / 86400e9), UTC
  type TEXT NOT NULL,
  channel TEXT NOT NULL,            -- activity_channel() of the events
  batch_id INTEGER NOT NULL,
  events INTEGER NOT NULL,
  sensitive INTEGER NOT NULL,       -- of those, events whose content had findings
  min_time_ns INTEGER NOT NULL,
  max_time_ns INTEGER NOT NULL,
  PRIMARY KEY(user, day, type, channel, batch_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS activity_keys_by_type_day ON activity_keys(type, day);
CREATE INDEX IF NOT EXISTS activity_keys_by_channel_day ON activity_keys(channel, day);
-- Every user seen, so a shown (pseudonymised) name can be resolved back without a scan.
CREATE TABLE IF NOT EXISTS activity_users(user TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices(
  device_id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  enrolled_ns INTEGER NOT NULL DEFAULT 0,
  first_seen_ns INTEGER NOT NULL DEFAULT 0,
  last_seen_ns INTEGER NOT NULL DEFAULT 0,
  events_received INTEGER NOT NULL DEFAULT 0,
  batches_received INTEGER NOT NULL DEFAULT 0,
  highest_seq INTEGER NOT NULL DEFAULT 0,
  events_lost INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS enroll_tokens(
  sha256 TEXT PRIMARY KEY,
  expires_ns INTEGER NOT NULL,
  uses_left INTEGER NOT NULL,
  created_ns INTEGER NOT NULL
);
)sql";

constexpr const char* kDeviceColumns =
    "device_id, hostname, os, agent_version, status, enrolled_ns, first_seen_ns, last_seen_ns, "
    "events_received, batches_received, highest_seq, events_lost";

std::int64_t day_of(std::int64_t time_ns) {
  std::int64_t d = time_ns / kDayNs;
  return (time_ns % kDayNs < 0) ? d - 1 : d;  // floor, also before 1970
}

std::string range_text(std::uint64_t first, std::uint64_t last) {
  return std::to_string(first) + ".." + std::to_string(last);
}

bool valid_status(const std::string& s) { return s == "active" || s == "blocked"; }

DeviceRecord read_device(const Use& row) {
  DeviceRecord d;
  d.device_id = row.text(0);
  d.hostname = row.text(1);
  d.os = row.text(2);
  d.agent_version = row.text(3);
  d.status = row.text(4);
  d.enrolled_ns = row.int64(5);
  d.first_seen_ns = row.int64(6);
  d.last_seen_ns = row.int64(7);
  d.events_received = row.uint64(8);
  d.batches_received = row.uint64(9);
  d.highest_seq = row.uint64(10);
  d.events_lost = row.uint64(11);
  return d;
}

// What one batch adds to activity_keys: one row per distinct (user, day, type, channel), sorted.
struct KeyRow {
  std::int64_t events = 0;
  std::int64_t sensitive = 0;
  std::int64_t min_time_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_time_ns = std::numeric_limits<std::int64_t>::min();
};
using KeyOf = std::tuple<std::string_view, std::int64_t, std::string_view, std::string_view>;  // user, day, type, channel

// A map, not a scan of the rows so far: a hostile batch of all-distinct users stays O(n log n).
std::map<KeyOf, KeyRow> batch_key_rows(const v1::EventBatch& batch) {
  std::map<KeyOf, KeyRow> rows;
  KeyRow* last = nullptr;
  KeyOf last_key;
  for (const auto& e : batch.events()) {
    KeyOf k{e.user(), day_of(e.time_ns()), e.type(), activity_channel(e)};
    // Events come in runs of the same key; skip the lookup for the common repeat.
    if (!last || k != last_key) {
      last = &rows[k];
      last_key = k;
    }
    last->events += 1;
    if (has_finding(e, "any")) last->sensitive += 1;
    last->min_time_ns = std::min(last->min_time_ns, e.time_ns());
    last->max_time_ns = std::max(last->max_time_ns, e.time_ns());
  }
  return rows;
}

// Applies the per-connection settings every connection needs.
Status configure(Db& db, int cache_kib) {
  return db.exec("PRAGMA busy_timeout=" + std::to_string(sqlite::kBusyTimeoutMs) +
                     "; PRAGMA cache_size=-" + std::to_string(cache_kib) + "; PRAGMA temp_store=MEMORY;",
                 "configure connection");
}

// ---------------------------------------------------------------- writer

struct Writer {
  Db db;
  Stmt prev_range;
  Stmt next_range;
  Stmt insert_batch;
  Stmt insert_key;
  Stmt insert_user;
  Stmt add_device_counters;
  Stmt register_device;
  Stmt device_hello;
  Stmt set_status;
  Stmt add_token;
  Stmt consume_token;
  Stmt token_state;

  Status prepare_all() {
    struct Spec {
      Stmt* stmt;
      const char* what;
      const char* sql;
    };
    const Spec specs[] = {
        {&prev_range, "find stored batch at or before first seq",
         "SELECT first_seq, last_seq FROM batches WHERE device_id = ?1 AND first_seq <= ?2 "
         "ORDER BY first_seq DESC LIMIT 1"},
        {&next_range, "find stored batch after first seq",
         "SELECT first_seq, last_seq FROM batches WHERE device_id = ?1 AND first_seq > ?2 "
         "ORDER BY first_seq ASC LIMIT 1"},
        {&insert_batch, "insert batch",
         "INSERT INTO batches(device_id, first_seq, last_seq, event_count, min_time_ns, max_time_ns, "
         "received_ns, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&insert_key, "insert activity key",
         "INSERT INTO activity_keys(user, day, type, channel, batch_id, events, sensitive, min_time_ns, max_time_ns) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        {&insert_user, "insert activity user", "INSERT OR IGNORE INTO activity_users(user) VALUES(?1)"},
        {&add_device_counters, "update device counters",
         "INSERT INTO devices(device_id, first_seen_ns, last_seen_ns, events_received, batches_received, "
         "highest_seq, events_lost) VALUES(?1, ?2, ?2, ?3, ?4, ?5, ?6) "
         "ON CONFLICT(device_id) DO UPDATE SET "
         "first_seen_ns = CASE WHEN first_seen_ns = 0 THEN excluded.first_seen_ns ELSE first_seen_ns END, "
         "last_seen_ns = max(last_seen_ns, excluded.last_seen_ns), "
         "events_received = events_received + excluded.events_received, "
         "batches_received = batches_received + excluded.batches_received, "
         "highest_seq = max(highest_seq, excluded.highest_seq), "
         "events_lost = events_lost + excluded.events_lost"},
        // Re-registering keeps the counters: they describe the batches stored for the device.
        {&register_device, "register device",
         "INSERT INTO devices(device_id, hostname, os, agent_version, status, enrolled_ns, first_seen_ns, "
         "last_seen_ns, events_received, batches_received, highest_seq, events_lost) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
         "ON CONFLICT(device_id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, "
         "agent_version = excluded.agent_version, status = excluded.status, enrolled_ns = excluded.enrolled_ns"},
        {&device_hello, "record device hello",
         "INSERT INTO devices(device_id, hostname, os, agent_version, first_seen_ns, last_seen_ns) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?5) "
         "ON CONFLICT(device_id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, "
         "agent_version = excluded.agent_version, "
         "first_seen_ns = CASE WHEN first_seen_ns = 0 THEN excluded.first_seen_ns ELSE first_seen_ns END, "
         "last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)"},
        {&set_status, "set device status", "UPDATE devices SET status = ?2 WHERE device_id = ?1"},
        {&add_token, "add enroll token",
         "INSERT INTO enroll_tokens(sha256, expires_ns, uses_left, created_ns) VALUES(?1, ?2, ?3, ?4)"},
        // One statement decides: two connections racing for the last use cannot both match.
        {&consume_token, "consume enroll token",
         "UPDATE enroll_tokens SET uses_left = uses_left - 1 "
         "WHERE sha256 = ?1 AND uses_left > 0 AND expires_ns > ?2"},
        {&token_state, "read enroll token", "SELECT expires_ns, uses_left FROM enroll_tokens WHERE sha256 = ?1"},
    };
    for (const auto& s : specs) {
      auto st = Stmt::prepare(db.get(), s.sql, s.what);
      if (!st) return err(st.error());
      *s.stmt = std::move(st).value();
    }
    return {};
  }
};

// The activity_keys and activity_users rows of one stored batch (ingest and the v1 migration).
Status insert_keys(Writer& w, const v1::EventBatch& batch, std::int64_t batch_id) {
  const auto rows = batch_key_rows(batch);
  std::string_view prev_user;
  bool first = true;
  for (const auto& [key, row] : rows) {
    const auto& [user, day, type, channel] = key;
    {
      Use u(w.insert_key);
      u.bind(1, user).bind(2, day).bind(3, type).bind(4, channel).bind(5, batch_id).bind(6, row.events)
          .bind(7, row.sensitive).bind(8, row.min_time_ns).bind(9, row.max_time_ns);
      if (auto st = u.run(); !st) return st;
    }
    if (first || user != prev_user) {  // rows are sorted by user first
      Use u(w.insert_user);
      u.bind(1, user);
      if (auto st = u.run(); !st) return st;
    }
    first = false;
    prev_user = user;
  }
  return {};
}

// What one append call changes on a device row.
struct DeviceDelta {
  std::uint64_t events = 0;
  std::uint64_t batches = 0;
  std::uint64_t highest_seq = 0;
  std::uint64_t lost = 0;
};

// ---------------------------------------------------------------- readers

struct Reader {
  Db db;
  // Query shapes vary with the filters set; each distinct SQL text is prepared once.
  std::unordered_map<std::string, Stmt> stmts;

  Result<Stmt*> stmt(const std::string& sql, std::string_view what) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return &it->second;
    auto st = Stmt::prepare(db.get(), sql, what);
    if (!st) return err(st.error());
    return &stmts.emplace(sql, std::move(st).value()).first->second;
  }
};

class ReaderPool {
 public:
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Reader> r) : pool_(pool), r_(std::move(r)) {}
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), r_(std::move(o.r_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ && r_) pool_->give_back(std::move(r_));
    }
    Reader& operator*() { return *r_; }
    Reader* operator->() { return r_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Reader> r_;
  };

  explicit ReaderPool(std::string path) : path_(std::move(path)) {}

  Result<Lease> acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto r = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(r));
      }
    }
    auto db = Db::open(path_, SQLITE_OPEN_READWRITE);
    if (!db) return err(db.error());
    // query_only: a reader that tried to write would take the write lock away from ingest.
    auto st = configure(*db, 16 * 1024);
    if (st) st = db->exec("PRAGMA query_only=1", "configure reader");
    if (!st) return err(st.error());
    auto r = std::make_unique<Reader>();
    r->db = std::move(db).value();
    return Lease(this, std::move(r));
  }

 private:
  void give_back(std::unique_ptr<Reader> r) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleReaders) idle_.push_back(std::move(r));
  }

  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Reader>> idle_;
};

// ---------------------------------------------------------------- query helpers

// Newest-first order of the result set: (time, device, seq).
bool newer(const StoredEvent& a, const StoredEvent& b) {
  return std::forward_as_tuple(a.event.time_ns(), a.device_id, a.event.seq()) >
         std::forward_as_tuple(b.event.time_ns(), b.device_id, b.event.seq());
}

bool newer(const v1::Event& e, const std::string& device, const StoredEvent& b) {
  return std::forward_as_tuple(e.time_ns(), device, e.seq()) >
         std::forward_as_tuple(b.event.time_ns(), b.device_id, b.event.seq());
}

// Offers e to `kept`, a heap of at most cap (> 0) events whose front is the oldest kept: a query
// walking candidate batches newest first keeps only the newest matches this way.
void keep_newest(std::vector<StoredEvent>& kept, std::size_t cap, const std::string& device, v1::Event& e) {
  const auto heap_cmp = [](const StoredEvent& a, const StoredEvent& b) { return newer(a, b); };
  if (kept.size() < cap) {
    kept.push_back(StoredEvent{device, std::move(e)});
    std::push_heap(kept.begin(), kept.end(), heap_cmp);
  } else if (newer(e, device, kept.front())) {
    std::pop_heap(kept.begin(), kept.end(), heap_cmp);
    kept.back() = StoredEvent{device, std::move(e)};
    std::push_heap(kept.begin(), kept.end(), heap_cmp);
  }
}

struct EventFilter {
  const EventQuery& q;
  bool type_prefix;

  bool operator()(const v1::Event& e) const {
    if (q.since_ns && e.time_ns() < *q.since_ns) return false;
    if (q.until_ns && e.time_ns() >= *q.until_ns) return false;
    if (q.user && e.user() != *q.user) return false;
    if (q.type) {
      if (type_prefix ? !e.type().starts_with(*q.type) : e.type() != *q.type) return false;
    }
    if (q.path_glob) {
      if (!e.has_file()) return false;
      const auto& f = e.file();
      bool hit = fnmatch(q.path_glob->c_str(), f.path().c_str(), 0) == 0 ||
                 (!f.old_path().empty() && fnmatch(q.path_glob->c_str(), f.old_path().c_str(), 0) == 0);
      if (!hit) return false;
    }
    return true;
  }
};

// ---------------------------------------------------------------- activity queries

constexpr std::size_t kMaxQueryUsers = 64;
constexpr int kFirstUserBind = 20;

// Strictly older than the position, in the (time, device, seq) order pages are cut by.
bool before(const v1::Event& e, const std::string& device, const ActivityPosition& p) {
  return std::forward_as_tuple(e.time_ns(), device, e.seq()) < std::forward_as_tuple(p.time_ns, p.device_id, p.seq);
}

bool glob_hit(const std::string& pattern, const std::string& path) {
  return !path.empty() && fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

// Everything an activity query asks of one event except the cursor (device comes from the batch
// and is checked in SQL). Population scope answers are cached per user: the callback may be slow.
class ActivityFilter {
 public:
  explicit ActivityFilter(const ActivityQuery& q)
      : q_(q), type_prefix_(q.type && !q.type->empty() && q.type->back() == '.') {}

  bool operator()(const v1::Event& e) const {
    if (q_.since_ns && e.time_ns() < *q_.since_ns) return false;
    if (q_.until_ns && e.time_ns() >= *q_.until_ns) return false;
    if (!q_.users.empty() && std::find(q_.users.begin(), q_.users.end(), e.user()) == q_.users.end()) return false;
    if (q_.type && (type_prefix_ ? !e.type().starts_with(*q_.type) : e.type() != *q_.type)) return false;
    if (q_.channel && activity_channel(e) != *q_.channel) return false;
    if (q_.classification && !has_finding(e, *q_.classification)) return false;
    if (q_.path_glob && !path_hit(e)) return false;
    return allowed(e.user());
  }

 private:
  bool path_hit(const v1::Event& e) const {
    const std::string& g = *q_.path_glob;
    if (e.has_file()) {
      const auto& f = e.file();
      return glob_hit(g, f.path()) || glob_hit(g, f.old_path()) || glob_hit(g, f.source_path());
    }
    if (e.has_bulk()) {
      for (const auto& p : e.bulk().sample_paths())
        if (glob_hit(g, p)) return true;
      return glob_hit(g, e.bulk().common_dir());
    }
    return false;
  }

  bool allowed(const std::string& user) const {
    if (!q_.user_allowed) return true;
    auto [it, fresh] = allowed_.try_emplace(user, false);
    if (fresh) it->second = q_.user_allowed(user);
    return it->second;
  }

  const ActivityQuery& q_;
  bool type_prefix_;
  mutable std::unordered_map<std::string, bool> allowed_;
};

// The SQL of one activity query: candidate batches for the page (newest first) and the index
// rows its total is summed from. Binds have fixed numbers so each filter combination is one SQL
// text (prepared once per reader): ?1 device, ?3 type (or prefix low), ?4 prefix high, ?5 since,
// ?6 until, ?7 first day, ?8 last day, ?9 channel, ?10 cursor time, ?11 cursor day, ?20.. users.
struct ActivitySql {
  const ActivityQuery& q;
  bool type_prefix;
  std::string type_hi;
  std::string candidates;
  std::string count_rows;

  explicit ActivitySql(const ActivityQuery& query)
      : q(query), type_prefix(q.type && !q.type->empty() && q.type->back() == '.') {
    if (type_prefix) {
      type_hi = *q.type;
      type_hi.back() = static_cast<char>('.' + 1);  // every type starting with the prefix sorts below
    }
    std::string key_where = "1";
    if (!q.users.empty()) {
      key_where += " AND k.user IN (";
      for (std::size_t i = 0; i < q.users.size(); ++i)
        key_where += (i ? ", ?" : "?") + std::to_string(kFirstUserBind + static_cast<int>(i));
      key_where += ")";
    }
    // The most selective key leads: users (primary key), else type, else channel. The unary +
    // keeps SQLite (which has no statistics here) from choosing another index.
    const bool by_user = !q.users.empty();
    const std::string type_col = by_user ? "+k.type" : "k.type";
    const std::string channel_col = by_user || q.type ? "+k.channel" : "k.channel";
    if (q.type)
      key_where += type_prefix ? " AND " + type_col + " >= ?3 AND " + type_col + " < ?4" : " AND " + type_col + " = ?3";
    if (q.channel) key_where += " AND " + channel_col + " = ?9";
    if (q.since_ns) key_where += " AND k.day >= ?7 AND k.max_time_ns >= ?5";
    if (q.until_ns) key_where += " AND k.day <= ?8 AND k.min_time_ns < ?6";
    const std::string device_where = q.device_id ? " AND b.device_id = ?1" : "";

    if (by_user || q.type || q.channel) {
      std::string after_where = q.after ? " AND k.day <= ?11 AND k.min_time_ns <= ?10" : "";
      // CROSS JOIN fixes the join order: the key rows find the batches, never a scan of batches.
      candidates = "SELECT k.batch_id, b.device_id, max(k.max_time_ns) AS mx FROM activity_keys AS k "
                   "CROSS JOIN batches AS b ON b.id = k.batch_id WHERE " + key_where + after_where + device_where +
                   " GROUP BY k.batch_id ORDER BY mx DESC";
    } else {
      candidates = "SELECT b.id, b.device_id, b.max_time_ns FROM batches AS b WHERE 1" + device_where;
      if (q.since_ns) candidates += " AND b.max_time_ns >= ?5";
      if (q.until_ns) candidates += " AND b.min_time_ns < ?6";
      if (q.after) candidates += " AND b.min_time_ns <= ?10";
      candidates += " ORDER BY b.max_time_ns DESC";
    }
    count_rows = "SELECT k.batch_id, k.user, k.events, k.sensitive, k.min_time_ns, k.max_time_ns FROM activity_keys AS k" +
                 std::string(q.device_id ? " CROSS JOIN batches AS b ON b.id = k.batch_id" : "") + " WHERE " + key_where +
                 device_where + " ORDER BY k.batch_id";
  }

  // Binds only the numbers the statement uses: SQLite refuses a number past its highest.
  void bind(const Stmt& st, Use& u, bool with_after) const {
    auto set = [&](int i, auto v) {
      if (sqlite3_bind_parameter_name(st.get(), i) != nullptr) u.bind(i, v);
    };
    if (q.device_id) set(1, std::string_view(*q.device_id));
    if (q.type) set(3, std::string_view(*q.type));
    if (type_prefix) set(4, std::string_view(type_hi));
    if (q.since_ns) set(5, *q.since_ns), set(7, day_of(*q.since_ns));
    if (q.until_ns) set(6, *q.until_ns), set(8, day_of(*q.until_ns - 1));
    if (q.channel) set(9, std::string_view(*q.channel));
    if (with_after && q.after) set(10, q.after->time_ns), set(11, day_of(q.after->time_ns));
    for (std::size_t i = 0; i < q.users.size(); ++i)
      u.bind(kFirstUserBind + static_cast<int>(i), std::string_view(q.users[i]));
  }
};

// ---------------------------------------------------------------- the store

class SqliteEventStore final : public EventStore {
 public:
  SqliteEventStore(Writer w, std::string path) : w_(std::move(w)), readers_(std::move(path)) {}

  Result<std::vector<AppendResult>> append_batches(std::span<const IncomingBatch> batches,
                                                   std::int64_t now_ns) override {
    std::vector<AppendResult> results;
    if (batches.empty()) return results;
    results.reserve(batches.size());
    std::lock_guard lock(w_mu_);
    auto txn = Txn::begin(w_.db, /*immediate=*/true);
    if (!txn) return err(txn.error());
    std::map<std::string, DeviceDelta, std::less<>> deltas;
    for (const auto& b : batches) {
      auto r = append_one(b, now_ns, deltas);
      if (!r) return err(r.error());  // txn rolls back: none of the call is stored
      results.push_back(std::move(r).value());
    }
    for (const auto& [device, d] : deltas) {
      Use u(w_.add_device_counters);
      u.bind(1, std::string_view(device)).bind(2, now_ns).bind(3, d.events).bind(4, d.batches)
          .bind(5, d.highest_seq).bind(6, d.lost);
      if (auto st = u.run(); !st) return err(st.error());
    }
    if (auto st = txn->commit(); !st) return err(st.error());
    return results;
  }

  // siem: batches by position (their row id: one writer assigns them in commit order).
  Result<std::vector<PositionedBatch>> batches_after(std::int64_t after_batch, std::size_t max_batches) override {
    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    Reader& r = **lease;
    auto st = r.stmt("SELECT id, device_id, payload FROM batches WHERE id > ?1 ORDER BY id LIMIT ?2", "read batches by position");
    if (!st) return err(st.error());
    Use u(**st);
    u.bind(1, after_batch).bind(2, static_cast<std::int64_t>(max_batches));
    std::vector<PositionedBatch> out;
    for (;;) {
      auto row = u.step();
      if (!row) return err(row.error());
      if (!*row) break;
      PositionedBatch pb;
      pb.position = u.int64(0);
      const std::string device(u.text(1));
      auto batch = decode_batch(u.blob(2), kStoredBatchLimits);
      if (!batch) return err("stored batch " + std::to_string(pb.position) + " does not decode: " + batch.error());
      for (auto& e : *batch->mutable_events()) pb.events.push_back(StoredEvent{device, std::move(e)});
      out.push_back(std::move(pb));
    }
    return out;
  }

  Result<std::vector<StoredEvent>> query_events(const EventQuery& q) override {
    std::vector<StoredEvent> kept;  // a heap whose front is the oldest kept match
    if (q.limit == 0 || (q.since_ns && q.until_ns && *q.since_ns >= *q.until_ns) ||
        (q.until_ns && *q.until_ns == std::numeric_limits<std::int64_t>::min()))
      return kept;
    const bool type_prefix = q.type && !q.type->empty() && q.type->back() == '.';

    // Candidate batches, newest first. Binds use fixed numbers so each filter combination is one
    // SQL text: ?1 device, ?2 user, ?3 type (or prefix low), ?4 prefix high, ?5 since, ?6 until,
    // ?7 first day, ?8 last day.
    std::string batch_where;
    if (q.device_id) batch_where += " AND b.device_id = ?1";
    if (q.since_ns) batch_where += " AND b.max_time_ns >= ?5";
    if (q.until_ns) batch_where += " AND b.min_time_ns < ?6";
    std::string sql;
    const bool use_keys = q.user || q.type;
    if (use_keys) {
      std::string key_where = "1";
      if (q.user) key_where += " AND user = ?2";
      // With a user, the (user, day) key drives: a type has many users' keys, a user few. The
      // unary + keeps SQLite (which has no statistics here) from picking the type index instead.
      const char* type_col = q.user ? "+type" : "type";
      if (q.type)
        key_where += type_prefix ? std::string(" AND ") + type_col + " >= ?3 AND " + type_col + " < ?4"
                                 : std::string(" AND ") + type_col + " = ?3";
      if (q.since_ns) key_where += " AND day >= ?7";
      if (q.until_ns) key_where += " AND day <= ?8";
      // CROSS JOIN fixes the join order: the key index finds the few batches, never a scan of
      // every batch by time checking membership.
      sql = "SELECT b.id, b.device_id, b.max_time_ns FROM (SELECT DISTINCT batch_id FROM activity_keys WHERE " +
            key_where + ") AS k CROSS JOIN batches AS b WHERE b.id = k.batch_id" + batch_where +
            " ORDER BY b.max_time_ns DESC";
    } else {
      sql = "SELECT b.id, b.device_id, b.max_time_ns FROM batches AS b WHERE 1" + batch_where +
            " ORDER BY b.max_time_ns DESC";
    }
    std::string type_hi;
    if (type_prefix) {
      type_hi = *q.type;
      type_hi.back() = static_cast<char>('.' + 1);  // every type starting with the prefix sorts below
    }

    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    Reader& r = **lease;
    auto candidates = r.stmt(sql, "find candidate batches");
    if (!candidates) return err(candidates.error());
    auto payload_stmt = r.stmt("SELECT payload FROM batches WHERE id = ?1", "read batch payload");
    if (!payload_stmt) return err(payload_stmt.error());
    auto txn = Txn::begin(r.db, /*immediate=*/false);  // one snapshot for the whole query
    if (!txn) return err(txn.error());

    Use c(**candidates);
    if (q.device_id) c.bind(1, std::string_view(*q.device_id));
    if (q.user) c.bind(2, std::string_view(*q.user));
    if (q.type) c.bind(3, std::string_view(*q.type));
    if (type_prefix) c.bind(4, std::string_view(type_hi));
    if (q.since_ns) c.bind(5, *q.since_ns);
    if (q.until_ns) c.bind(6, *q.until_ns);
    if (use_keys && q.since_ns) c.bind(7, day_of(*q.since_ns));
    if (use_keys && q.until_ns) c.bind(8, day_of(*q.until_ns - 1));

    const EventFilter match{q, type_prefix};
    for (;;) {
      auto row = c.step();
      if (!row) return err(row.error());
      if (!*row) break;
      const std::int64_t batch_id = c.int64(0);
      const std::int64_t batch_max_time = c.int64(2);
      // Candidates come newest first: once this one ends before the oldest kept match, no later
      // candidate can hold a newer event.
      if (kept.size() == q.limit && batch_max_time < kept.front().event.time_ns()) break;
      const std::string device(c.text(1));

      Result<v1::EventBatch> batch = err("");
      {
        Use p(**payload_stmt);
        p.bind(1, batch_id);
        auto prow = p.step();
        if (!prow) return err(prow.error());
        if (!*prow) continue;  // cannot happen inside one snapshot; nothing to decode
        batch = decode_batch(p.blob(0), kStoredBatchLimits);
      }
      if (!batch)
        return err("stored batch " + std::to_string(batch_id) + " of device " + device +
                   " does not decode: " + batch.error());
      auto* events = batch->mutable_events();
      for (auto& e : *events) {
        if (match(e)) keep_newest(kept, q.limit, device, e);
      }
    }
    std::sort(kept.begin(), kept.end(), [](const StoredEvent& a, const StoredEvent& b) { return newer(b, a); });
    return kept;
  }

  Result<ActivityPage> query_activity(const ActivityQuery& q) override {
    ActivityPage page;
    const bool empty_range = (q.since_ns && q.until_ns && *q.since_ns >= *q.until_ns) ||
                             (q.until_ns && *q.until_ns == std::numeric_limits<std::int64_t>::min());
    if ((q.users_given && q.users.empty()) || empty_range || q.limit == 0) {
      if (q.count_total) page.total = 0;
      return page;
    }
    if (q.users.size() > kMaxQueryUsers)
      return err("an activity query names at most " + std::to_string(kMaxQueryUsers) + " users");
    const ActivityFilter match(q);
    const ActivitySql sql(q);

    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    Reader& r = **lease;
    auto payload_stmt = r.stmt("SELECT payload FROM batches WHERE id = ?1", "read batch payload");
    if (!payload_stmt) return err(payload_stmt.error());
    auto txn = Txn::begin(r.db, /*immediate=*/false);  // one snapshot for the page and its total
    if (!txn) return err(txn.error());
    auto read_batch = [&](std::int64_t id) -> Result<std::optional<v1::EventBatch>> {
      Use p(**payload_stmt);
      p.bind(1, id);
      auto row = p.step();
      if (!row) return err(row.error());
      if (!*row) return std::optional<v1::EventBatch>();
      auto batch = decode_batch(p.blob(0), kStoredBatchLimits);
      if (!batch) return err("stored batch " + std::to_string(id) + " does not decode: " + batch.error());
      return std::optional<v1::EventBatch>(std::move(batch).value());
    };

    // The page: candidates newest first, keep the newest limit+1 matches (the extra one says
    // whether another page follows).
    {
      auto candidates = r.stmt(sql.candidates, "find candidate batches");
      if (!candidates) return err(candidates.error());
      Use c(**candidates);
      sql.bind(**candidates, c, /*with_after=*/true);
      const std::size_t keep = q.limit + 1;
      std::vector<StoredEvent> kept;  // heap: front is the oldest kept
      for (;;) {
        auto row = c.step();
        if (!row) return err(row.error());
        if (!*row) break;
        const std::int64_t batch_id = c.int64(0);
        if (kept.size() == keep && c.int64(2) < kept.front().event.time_ns()) break;
        const std::string device(c.text(1));
        auto batch = read_batch(batch_id);
        if (!batch) return err(batch.error());
        if (!*batch) continue;
        for (auto& e : *(*batch)->mutable_events()) {
          if (match(e) && (!q.after || before(e, device, *q.after))) keep_newest(kept, keep, device, e);
        }
      }
      std::sort(kept.begin(), kept.end(), [](const StoredEvent& a, const StoredEvent& b) { return newer(a, b); });
      if (kept.size() > q.limit) {
        kept.pop_back();
        const auto& last = kept.back();
        page.next = ActivityPosition{last.event.time_ns(), last.device_id, last.event.seq()};
      }
      page.events = std::move(kept);
    }

    // The total: summed from the index rows where a row says everything (wholly inside the time
    // range, no filter on what only the payload holds); the batches of the other rows decoded.
    if (q.count_total) {
      auto rows = r.stmt(sql.count_rows, "count activity");
      if (!rows) return err(rows.error());
      Use c(**rows);
      sql.bind(**rows, c, /*with_after=*/false);
      const bool payload_filters = q.path_glob || (q.classification && *q.classification != "any");
      const bool count_sensitive = q.classification.has_value();
      std::uint64_t total = 0;
      std::unordered_map<std::string, bool> allowed;
      auto user_allowed = [&](std::string_view user) {
        if (!q.user_allowed) return true;
        auto [it, fresh] = allowed.try_emplace(std::string(user), false);
        if (fresh) it->second = q.user_allowed(it->first);
        return it->second;
      };
      std::int64_t cur_batch = -1;
      bool cur_decode = false;
      std::uint64_t cur_sum = 0;
      auto finish_batch = [&]() -> Status {
        if (cur_batch < 0) return {};
        if (!cur_decode) {
          total += cur_sum;
          return {};
        }
        auto batch = read_batch(cur_batch);
        if (!batch) return err(batch.error());
        if (*batch)
          for (const auto& e : (*batch)->events())
            if (match(e)) ++total;
        return {};
      };
      for (;;) {
        auto row = c.step();
        if (!row) return err(row.error());
        if (!*row) break;
        const std::int64_t batch_id = c.int64(0);
        if (batch_id != cur_batch) {
          if (auto st = finish_batch(); !st) return err(st.error());
          cur_batch = batch_id;
          cur_decode = payload_filters;
          cur_sum = 0;
        }
        if (cur_decode || !user_allowed(c.text(1))) continue;
        const bool inside = (!q.since_ns || c.int64(4) >= *q.since_ns) && (!q.until_ns || c.int64(5) < *q.until_ns);
        if (!inside) cur_decode = true;
        cur_sum += static_cast<std::uint64_t>(count_sensitive ? c.int64(3) : c.int64(2));
      }
      if (auto st = finish_batch(); !st) return err(st.error());
      page.total = total;
    }
    return page;
  }

  Result<std::vector<std::string>> activity_users() override {
    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    auto stmt = (*lease)->stmt("SELECT user FROM activity_users ORDER BY user", "list activity users");
    if (!stmt) return err(stmt.error());
    Use u(**stmt);
    return sqlite::texts(u);
  }

  Result<SeqCoverage> seq_coverage(const std::string& device_id) override {
    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    auto stmt = (*lease)->stmt("SELECT first_seq, last_seq FROM batches WHERE device_id = ?1 ORDER BY first_seq",
                               "read seq ranges");
    if (!stmt) return err(stmt.error());
    Use u(**stmt);
    u.bind(1, std::string_view(device_id));
    SeqCoverage cov;
    std::uint64_t next_expected = 1;
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      std::uint64_t first = u.uint64(0), last = u.uint64(1);
      if (first > next_expected) cov.gaps.emplace_back(next_expected, first - 1);
      cov.events += last - first + 1;
      cov.highest_seq = std::max(cov.highest_seq, last);
      next_expected = std::max(next_expected, last + 1);
    });
    if (!rows) return err(rows.error());
    return cov;
  }

  Status register_device(const DeviceRecord& d) override {
    if (d.device_id.empty()) return err("register device: empty device id");
    if (!valid_status(d.status)) return err("register device " + d.device_id + ": invalid status '" + d.status + "'");
    std::lock_guard lock(w_mu_);
    Use u(w_.register_device);
    u.bind(1, std::string_view(d.device_id)).bind(2, std::string_view(d.hostname)).bind(3, std::string_view(d.os))
        .bind(4, std::string_view(d.agent_version)).bind(5, std::string_view(d.status)).bind(6, d.enrolled_ns)
        .bind(7, d.first_seen_ns).bind(8, d.last_seen_ns).bind(9, d.events_received).bind(10, d.batches_received)
        .bind(11, d.highest_seq).bind(12, d.events_lost);
    return u.run();
  }

  Result<std::optional<DeviceRecord>> find_device(const std::string& device_id) override {
    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    auto stmt = (*lease)->stmt(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE device_id = ?1",
                               "find device");
    if (!stmt) return err(stmt.error());
    Use u(**stmt);
    u.bind(1, std::string_view(device_id));
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return std::optional<DeviceRecord>();
    return std::optional<DeviceRecord>(read_device(u));
  }

  Result<std::vector<DeviceRecord>> list_devices() override {
    auto lease = readers_.acquire();
    if (!lease) return err(lease.error());
    auto stmt = (*lease)->stmt(std::string("SELECT ") + kDeviceColumns + " FROM devices ORDER BY device_id",
                               "list devices");
    if (!stmt) return err(stmt.error());
    Use u(**stmt);
    std::vector<DeviceRecord> out;
    auto rows = sqlite::each_row(u, [&](const Use& u) {
      out.push_back(read_device(u));
    });
    if (!rows) return err(rows.error());
    return out;
  }

  Status device_hello(const std::string& device_id, const std::string& hostname, const std::string& os,
                      const std::string& agent_version, std::int64_t now_ns) override {
    if (device_id.empty()) return err("device hello: empty device id");
    std::lock_guard lock(w_mu_);
    Use u(w_.device_hello);
    u.bind(1, std::string_view(device_id)).bind(2, std::string_view(hostname)).bind(3, std::string_view(os))
        .bind(4, std::string_view(agent_version)).bind(5, now_ns);
    return u.run();
  }

  Status set_device_status(const std::string& device_id, const std::string& status) override {
    if (!valid_status(status))
      return err("set device status of " + device_id + ": invalid status '" + status + "' (active|blocked)");
    std::lock_guard lock(w_mu_);
    Use u(w_.set_status);
    u.bind(1, std::string_view(device_id)).bind(2, std::string_view(status));
    if (auto st = u.run(); !st) return st;
    if (sqlite3_changes(w_.db.get()) == 0) return err("set device status: unknown device " + device_id);
    return {};
  }

  Status add_enroll_token(const std::string& token_sha256, std::int64_t expires_ns, std::uint32_t uses) override {
    std::lock_guard lock(w_mu_);
    Use u(w_.add_token);
    u.bind(1, std::string_view(token_sha256)).bind(2, expires_ns).bind(3, std::int64_t{uses}).bind(4, vigil::now_ns());
    return u.run();
  }

  Result<TokenCheck> consume_enroll_token(const std::string& token_sha256, std::int64_t now_ns) override {
    std::lock_guard lock(w_mu_);
    {
      Use u(w_.consume_token);
      u.bind(1, std::string_view(token_sha256)).bind(2, now_ns);
      if (auto st = u.run(); !st) return err(st.error());
      if (sqlite3_changes(w_.db.get()) == 1) return TokenCheck::Accepted;
    }
    // Not consumed: say why.
    Use u(w_.token_state);
    u.bind(1, std::string_view(token_sha256));
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return TokenCheck::Unknown;
    if (u.int64(0) <= now_ns) return TokenCheck::Expired;
    return TokenCheck::UsedUp;
  }

 private:
  Result<AppendResult> append_one(const IncomingBatch& b, std::int64_t now_ns,
                                  std::map<std::string, DeviceDelta, std::less<>>& deltas) {
    auto reject = [](std::string why) { return AppendResult{AppendOutcome::Rejected, std::move(why)}; };
    if (b.device_id.empty()) return reject("batch has no device id");
    if (!b.decoded) return reject("batch was not decoded");
    if (b.zstd_payload.empty()) return reject("batch has an empty payload");
    const v1::EventBatch& batch = *b.decoded;
    const std::uint64_t first = batch.first_seq(), last = batch.last_seq();
    if (first == 0 || last < first || last > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        last - first + 1 != static_cast<std::uint64_t>(batch.events_size()))
      return reject("batch seq range " + range_text(first, last) + " does not match its " +
                    std::to_string(batch.events_size()) + " events");
    auto& delta = deltas[b.device_id];  // any batch, even a duplicate, means the device was seen

    // Stored ranges of a device never overlap, so only the neighbours of first_seq can conflict.
    {
      Use u(w_.prev_range);
      u.bind(1, std::string_view(b.device_id)).bind(2, first);
      auto row = u.step();
      if (!row) return err(row.error());
      if (*row) {
        const std::uint64_t pf = u.uint64(0), pl = u.uint64(1);
        if (pf == first && pl == last) return AppendResult{AppendOutcome::Duplicate, {}};
        if (pf == first)
          return reject("seqs " + range_text(first, last) + " start like the stored batch " + range_text(pf, pl) +
                        " but end elsewhere");
        if (pl >= first)
          return reject("seqs " + range_text(first, last) + " overlap the stored batch " + range_text(pf, pl));
      }
    }
    {
      Use u(w_.next_range);
      u.bind(1, std::string_view(b.device_id)).bind(2, first);
      auto row = u.step();
      if (!row) return err(row.error());
      if (*row && u.uint64(0) <= last)
        return reject("seqs " + range_text(first, last) + " overlap the stored batch " +
                      range_text(u.uint64(0), u.uint64(1)));
    }

    // Time range and reported losses.
    std::int64_t min_t = std::numeric_limits<std::int64_t>::max(), max_t = std::numeric_limits<std::int64_t>::min();
    std::uint64_t lost = 0;
    for (const auto& e : batch.events()) {
      min_t = std::min(min_t, e.time_ns());
      max_t = std::max(max_t, e.time_ns());
      if (e.has_loss() && e.type() == "agent.loss") lost += e.loss().events();
    }
    {
      Use u(w_.insert_batch);
      u.bind(1, std::string_view(b.device_id)).bind(2, first).bind(3, last)
          .bind(4, static_cast<std::int64_t>(batch.events_size())).bind(5, min_t).bind(6, max_t).bind(7, now_ns)
          .bind_blob(8, b.zstd_payload);
      if (auto st = u.run(); !st) return err(st.error());
    }
    const std::int64_t batch_id = sqlite3_last_insert_rowid(w_.db.get());
    if (auto st = insert_keys(w_, batch, batch_id); !st) return err(st.error());
    delta.events += last - first + 1;
    delta.batches += 1;
    delta.highest_seq = std::max(delta.highest_seq, last);
    delta.lost += lost;
    return AppendResult{AppendOutcome::Stored, {}};
  }

  std::mutex w_mu_;  // guards w_: SQLite has one writer; queueing here beats SQLITE_BUSY
  Writer w_;
  ReaderPool readers_;
};

// Schema 1 indexed batches by (user, day, type) only. Version 2's rows need the channel, counts
// and times, which only the payloads hold: decode every stored batch once, in the opening
// transaction, so a crash mid-way leaves the database at version 1 to migrate again.
Status migrate_v1_keys(Writer& w) {
  auto all = Stmt::prepare(w.db.get(), "SELECT id, payload FROM batches ORDER BY id", "read batches to migrate");
  if (!all) return err(all.error());
  Use u(*all);
  for (;;) {
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) break;
    const std::int64_t id = u.int64(0);
    auto batch = decode_batch(u.blob(1), kStoredBatchLimits);
    if (!batch) return err("stored batch " + std::to_string(id) + " does not decode: " + batch.error());
    if (auto st = insert_keys(w, *batch, id); !st) return st;
  }
  return w.db.exec("DROP TABLE IF EXISTS batch_keys", "drop schema 1 batch keys");
}

Result<std::string> sync_mode_from_env() {
  const char* v = std::getenv("VIGIL_SQLITE_SYNC");
  std::string mode = v ? v : "full";
  if (mode == "full" || mode == "FULL") return std::string("FULL");
  if (mode == "normal" || mode == "NORMAL") return std::string("NORMAL");
  return err("VIGIL_SQLITE_SYNC is '" + mode + "'; expected normal or full");
}

}  // namespace

Result<std::unique_ptr<EventStore>> open_sqlite_event_store(const std::string& path) {
  auto sync = sync_mode_from_env();
  if (!sync) return err(sync.error());
  auto db = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return err(db.error());
  Writer w;
  w.db = std::move(db).value();
  if (auto st = configure(w.db, 64 * 1024); !st) return err(st.error());
  // The WAL is reused after each checkpoint; this only trims it back after a burst.
  if (auto st = w.db.exec("PRAGMA journal_size_limit=67108864", "set journal size limit"); !st) return err(st.error());
  auto mode = w.db.query_text("PRAGMA journal_mode=WAL", "set journal mode");
  if (!mode) return err(mode.error());
  if (*mode != "wal")
    return err("sqlite: " + path + " cannot use WAL (journal mode is " + *mode +
               "); queries need it to run beside ingest");
  // FULL: a commit is on disk when COMMIT returns, which is what acking after it promises.
  if (auto st = w.db.exec("PRAGMA synchronous=" + *sync, "set synchronous"); !st) return err(st.error());

  auto version = w.db.query_int("PRAGMA user_version", "read schema version");
  if (!version) return err(version.error());
  if (*version > kSchemaVersion)
    return err("sqlite: " + path + " has schema version " + std::to_string(*version) +
               ", newer than this collector's " + std::to_string(kSchemaVersion));
  {
    auto txn = Txn::begin(w.db, /*immediate=*/true);
    if (!txn) return err(txn.error());
    if (auto st = w.db.exec(kSchema, "create schema"); !st) return err(st.error());
    if (auto st = w.prepare_all(); !st) return err(st.error());
    if (*version == 1) {
      if (auto st = migrate_v1_keys(w); !st) return err("sqlite: " + path + ": migrating schema 1 to 2: " + st.error());
    }
    if (auto st = w.db.exec("PRAGMA user_version=" + std::to_string(kSchemaVersion), "set schema version"); !st)
      return err(st.error());
    if (auto st = txn->commit(); !st) return err(st.error());
  }
  return std::unique_ptr<EventStore>(std::make_unique<SqliteEventStore>(std::move(w), path));
}

}  // namespace vigil::collector
