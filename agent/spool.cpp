// Spool on SQLite (WAL, synchronous=NORMAL). See spool.h for what it promises.
//
// Layout (PRAGMA user_version = 1):
//   meta(key, value)          device_id, next_seq, last_heartbeat_ns, clean_shutdown
//   batches(first_seq PK, last_seq, event_count, uncompressed_bytes, payload_bytes, created_ns,
//           min_time_ns, max_time_ns, payload)      one row per zstd(EventBatch), immutable
//   checkpoint(path PK, size, mtime_ns)              regular files under watched roots
//   checkpoint_log(id PK, entries, updates)          one row per append: its checkpoint updates,
//                                                    encoded; folded into checkpoint in bulk
//   baselined_roots(root PK)
//
// next_seq lives in meta and is advanced in the same transaction that inserts a batch, so it
// survives acks and drops (an empty spool still continues from the highest seq ever assigned).
// bytes()/batch_count() are kept in memory (loaded at open, adjusted only after a commit).
//
// Why a checkpoint log: the live pipeline sends one checkpoint update per file event, and paths
// are random keys. Upserting them straight into checkpoint dirties about one B-tree page per
// event per commit (up to 4 KB of WAL per ~200-byte event). Instead an append writes its updates
// as one checkpoint_log row, and once the log holds kFoldEntries updates it is folded into
// checkpoint in path order (latest update per path wins), inside the transaction that crossed
// the threshold, so each checkpoint page is written about once per fold rather than once per
// event. Measured with bench_spool (300k events, every path new, as in a bulk copy): ~33k
// events/s upserting per commit, ~125k with the log; for a rewritten working set, 1.2-1.35x.
// The log's net effect (latest update per path) is mirrored in memory (`overlay`), so readers
// see checkpoint with the log applied on top without reading the log back, and a fold needs no
// read either. open() folds what a previous run left.
#include "agent/spool.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

#include "agent/sqlite_handle.h"
#include "shared/batch_codec.h"
#include "shared/limits.h"
#include "shared/schema_version.h"
#include "shared/time_util.h"

namespace vigil::agent {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int kSpoolSchema = 1;
constexpr std::uint32_t kUnsetLoginUid = 0xffffffffu;
// A BatchFrame wraps the payload with a few varint fields; keep room for them under the frame cap.
constexpr std::size_t kFrameOverhead = 64;
// Logged checkpoint updates that trigger a fold. Bounds the in-memory overlay (~180 bytes per
// distinct path: ~12 MB in the worst case, a bulk copy of 65k files; a working set of a few
// thousand files being rewritten costs far less) and the pause of one fold (tens of ms).
// Smaller thresholds were measured slower: a working set is upserted once per fold.
constexpr std::uint64_t kFoldEntries = 65536;

const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value ANY
) STRICT;
CREATE TABLE IF NOT EXISTS batches(
  first_seq INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  uncompressed_bytes INTEGER NOT NULL,
  payload_bytes INTEGER NOT NULL,
  created_ns INTEGER NOT NULL,
  min_time_ns INTEGER NOT NULL,
  max_time_ns INTEGER NOT NULL,
  payload BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS checkpoint(
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint_log(
  id INTEGER PRIMARY KEY,
  entries INTEGER NOT NULL,
  updates BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS baselined_roots(
  root TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
)sql";

// "/a/b/" -> "/a/b"; "/" stays "/".
std::string normalize_root(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

// Paths strictly under root sort in [lower, upper): root + "/" ... root + "0" ('0' follows '/').
struct PrefixRange {
  std::string exact, lower, upper;
};
PrefixRange prefix_range(const std::string& root) {
  PrefixRange r;
  r.exact = normalize_root(root);
  r.lower = r.exact == "/" ? "/" : r.exact + "/";
  r.upper = r.lower;
  r.upper.back() = '0';
  return r;
}

bool path_under(const std::string& path, const PrefixRange& r) {
  return path == r.exact || path.starts_with(r.lower);
}

// checkpoint_log.updates: per entry varint(removed), varint(path length), path, varint(size),
// varint(mtime_ns as two's complement).
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
std::string encode_updates(const std::vector<CheckpointEntry>& updates) {
  std::string out;
  std::size_t n = 0;
  for (const auto& c : updates) n += c.path.size() + 16;
  out.reserve(n);
  for (const auto& c : updates) {
    put_varint(out, c.removed ? 1 : 0);
    put_varint(out, c.path.size());
    out.append(c.path);
    put_varint(out, c.removed ? 0 : c.size);
    put_varint(out, c.removed ? 0 : static_cast<std::uint64_t>(c.mtime_ns));
  }
  return out;
}
bool decode_updates(std::string_view in, std::vector<CheckpointEntry>& out) {
  while (!in.empty()) {
    std::uint64_t removed = 0, len = 0, size = 0, mtime = 0;
    if (!get_varint(in, removed) || !get_varint(in, len) || len > in.size()) return false;
    CheckpointEntry c;
    c.path.assign(in.data(), static_cast<std::size_t>(len));
    in.remove_prefix(static_cast<std::size_t>(len));
    if (!get_varint(in, size) || !get_varint(in, mtime)) return false;
    c.removed = removed != 0;
    c.size = size;
    c.mtime_ns = static_cast<std::int64_t>(mtime);
    out.push_back(std::move(c));
  }
  return true;
}

struct DropGroup {
  const char* reason = nullptr;
  std::uint64_t first_seq = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t last_seq = 0;
  std::uint64_t events = 0, batches = 0, bytes = 0;
  std::int64_t first_time_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_time_ns = std::numeric_limits<std::int64_t>::min();
};

struct DropPlan {
  std::vector<std::uint64_t> first_seqs;  // batches to delete
  DropGroup age{"spool_age_cap"}, size{"spool_bytes_cap"};
  std::uint64_t bytes_after = 0;
};

}  // namespace

struct Spool::Impl {
  std::string path;
  SpoolLimits limits;
  std::string device_id;
  Database db;  // declared first: destroyed after the statements

  Statement begin, commit, rollback;
  Statement meta_get, meta_put;
  Statement batch_insert, batch_delete, batch_pending, batch_oldest;
  Statement cp_upsert, cp_under, cp_delete_under;
  Statement cp_delete, log_insert, log_all, log_clear;
  Statement root_get, root_put;

  std::uint64_t next_seq = 1;
  std::uint64_t bytes = 0;
  std::uint64_t batch_count = 0;
  std::uint64_t log_entries = 0;  // updates in checkpoint_log, as of the last commit
  // Net effect of checkpoint_log, as of the last commit: latest update per path (removed = a
  // tombstone hiding the table's row).
  struct NetUpdate {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool removed = false;
  };
  std::unordered_map<std::string, NetUpdate> overlay;
  RunState previous;

  Result<Transaction> transaction() { return Transaction::begin(begin, commit, rollback); }

  // meta: value or nullopt.
  Result<std::optional<std::int64_t>> meta_int(const char* key) {
    auto u = meta_get.use();
    meta_get.bind_text(1, key);
    auto row = meta_get.step();
    if (!row) return err(row.error());
    if (!*row || meta_get.column_is_null(0)) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{meta_get.column_int64(0)};
  }
  Result<std::optional<std::string>> meta_text(const char* key) {
    auto u = meta_get.use();
    meta_get.bind_text(1, key);
    auto row = meta_get.step();
    if (!row) return err(row.error());
    if (!*row || meta_get.column_is_null(0)) return std::optional<std::string>{};
    return std::optional<std::string>{meta_get.column_text(0)};
  }
  Status put_meta(const char* key, std::int64_t v) {
    auto u = meta_put.use();
    meta_put.bind_text(1, key);
    meta_put.bind(2, v);
    return meta_put.run();
  }
  Status put_meta(const char* key, std::string_view v) {
    auto u = meta_put.use();
    meta_put.bind_text(1, key);
    meta_put.bind_text(2, v);
    return meta_put.run();
  }

  // Inside a transaction: logs the updates as one row.
  Status log_checkpoint(const std::vector<CheckpointEntry>& updates) {
    if (updates.empty()) return {};
    for (const auto& c : updates)
      if (c.path.empty()) return err("checkpoint update with an empty path");
    const std::string blob = encode_updates(updates);
    auto u = log_insert.use();
    log_insert.bind(1, static_cast<std::uint64_t>(updates.size()));
    log_insert.bind_blob_static(2, blob);
    return log_insert.run();
  }

  // Every logged update, oldest first (open() only: afterwards the overlay mirrors the log).
  Result<std::vector<CheckpointEntry>> read_log() {
    std::vector<CheckpointEntry> out;
    auto u = log_all.use();
    for (;;) {
      auto row = log_all.step();
      if (!row) return err(row.error());
      if (!*row) break;
      if (!decode_updates(log_all.column_blob_view(0), out))
        return err("checkpoint log row " + std::to_string(log_all.column_int64(1)) + " is corrupt");
    }
    return out;
  }

  // Inside a transaction: applies the log (the overlay, then `extra`, the updates logged in this
  // same transaction) to checkpoint in path order, and empties the log. The caller clears the
  // overlay once the transaction commits.
  Status fold_checkpoint_log(const std::vector<CheckpointEntry>& extra = {}) {
    if (overlay.empty() && extra.empty()) return {};
    // Latest update per path, applied in path order (each B-tree page touched once).
    std::unordered_map<std::string_view, NetUpdate> latest;
    latest.reserve(overlay.size() + extra.size());
    for (const auto& [path, n] : overlay) latest.emplace(path, n);
    for (const auto& c : extra) latest.insert_or_assign(std::string_view(c.path), NetUpdate{c.size, c.mtime_ns, c.removed});
    std::vector<std::pair<std::string_view, NetUpdate>> ordered(latest.begin(), latest.end());
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [path, n] : ordered) {
      Statement& st = n.removed ? cp_delete : cp_upsert;
      auto u = st.use();
      st.bind_text(1, path);
      if (!n.removed) {
        st.bind(2, n.size);
        st.bind(3, n.mtime_ns);
      }
      if (auto s = st.run(); !s) return err("folding the checkpoint log: " + s.error());
    }
    auto u = log_clear.use();
    if (auto s = log_clear.run(); !s) return err("folding the checkpoint log: " + s.error());
    return {};
  }

  // After a commit that logged `updates` (and folded the log if `folded`).
  void logged(const std::vector<CheckpointEntry>& updates, bool folded) {
    if (folded) {
      overlay.clear();
      log_entries = 0;
      return;
    }
    for (const auto& c : updates) {
      const NetUpdate n{c.size, c.mtime_ns, c.removed};
      auto [it, inserted] = overlay.try_emplace(c.path, n);
      if (!inserted) it->second = n;
    }
    log_entries += updates.size();
  }

  struct Appended {
    SeqRange range;
    std::uint64_t payload_bytes = 0;
    bool folded = false;  // the checkpoint log was folded (and emptied) in this transaction
  };

  // Inside an open transaction: sequences events, stores them as one batch, logs the
  // checkpoint updates (folding the log when it is full) and advances next_seq. In-memory counters are left to the caller, who
  // adjusts them once the transaction commits.
  Result<Appended> append_in_txn(std::vector<v1::Event>& events,
                                 const std::vector<CheckpointEntry>& updates, std::int64_t created_ns) {
    if (events.empty()) return err("spool append: no events given (an empty batch is not stored)");
    if (events.size() > limits::kMaxBatchEvents)
      return err("spool append: " + std::to_string(events.size()) +
                 " events in one batch, above the limit of " + std::to_string(limits::kMaxBatchEvents) +
                 " the collector accepts; split them");
    for (const auto& e : events)
      if (e.type().empty() || e.type().size() > 64)
        return err("spool append: an event has an empty or over-long type (\"" + e.type().substr(0, 64) +
                   "\"); the collector would reject the whole batch");

    auto stored_next = meta_int("next_seq");
    if (!stored_next) return err(stored_next.error());
    std::uint64_t first = std::max<std::uint64_t>(next_seq, stored_next->value_or(1));
    std::uint64_t last = first + events.size() - 1;

    std::int64_t min_t = std::numeric_limits<std::int64_t>::max();
    std::int64_t max_t = std::numeric_limits<std::int64_t>::min();
    v1::EventBatch batch;
    batch.set_schema_version(kSchemaVersion);
    batch.set_device_id(device_id);
    batch.set_first_seq(first);
    batch.set_last_seq(last);
    batch.mutable_events()->Reserve(static_cast<int>(events.size()));
    // Swap the events into the batch and back: no copy, and the caller gets them back with seqs.
    for (std::size_t i = 0; i < events.size(); ++i) {
      events[i].set_seq(first + i);
      min_t = std::min(min_t, events[i].time_ns());
      max_t = std::max(max_t, events[i].time_ns());
      batch.add_events()->Swap(&events[i]);
    }
    const std::uint64_t uncompressed = batch.ByteSizeLong();
    std::string payload = uncompressed <= limits::kMaxDecompressedBytes ? encode_batch(batch) : std::string();
    for (std::size_t i = 0; i < events.size(); ++i) events[i].Swap(batch.mutable_events(static_cast<int>(i)));

    if (uncompressed > limits::kMaxDecompressedBytes)
      return err("spool append: batch of " + std::to_string(events.size()) + " events is " +
                 std::to_string(uncompressed) + " bytes uncompressed, above the limit of " +
                 std::to_string(limits::kMaxDecompressedBytes) + "; split it");
    if (payload.empty()) return err("spool append: zstd compression of the batch failed");
    if (payload.size() + kFrameOverhead > limits::kMaxFrameBytes)
      return err("spool append: compressed batch is " + std::to_string(payload.size()) +
                 " bytes, above the frame limit of " + std::to_string(limits::kMaxFrameBytes) + "; split it");

    {
      auto u = batch_insert.use();
      batch_insert.bind(1, first);
      batch_insert.bind(2, last);
      batch_insert.bind(3, static_cast<std::int64_t>(events.size()));
      batch_insert.bind(4, uncompressed);
      batch_insert.bind(5, static_cast<std::uint64_t>(payload.size()));
      batch_insert.bind(6, created_ns);
      batch_insert.bind(7, min_t);
      batch_insert.bind(8, max_t);
      batch_insert.bind_blob_static(9, payload);
      if (auto s = batch_insert.run(); !s) return err("spool append: " + s.error());
    }
    if (auto s = log_checkpoint(updates); !s) return err("spool append: " + s.error());
    const bool fold = !updates.empty() && log_entries + updates.size() >= kFoldEntries;
    if (fold)
      if (auto s = fold_checkpoint_log(updates); !s) return err("spool append: " + s.error());
    if (auto s = put_meta("next_seq", static_cast<std::int64_t>(last + 1)); !s)
      return err("spool append: " + s.error());
    return Appended{SeqRange{first, last}, payload.size(), fold};
  }

  // Which of the oldest batches the caps drop. reserve: bytes to keep free for the loss batch.
  Result<DropPlan> plan_drops(std::int64_t now_ns, std::uint64_t reserve) {
    DropPlan plan;
    plan.bytes_after = bytes;
    const bool age_cap = limits.max_age_ns > 0;
    const std::int64_t cutoff = age_cap && now_ns > std::numeric_limits<std::int64_t>::min() + limits.max_age_ns
                                    ? now_ns - limits.max_age_ns
                                    : std::numeric_limits<std::int64_t>::min();
    const bool bytes_cap = limits.max_bytes > 0;
    auto u = batch_oldest.use();
    for (;;) {
      auto row = batch_oldest.step();
      if (!row) return err(row.error());
      if (!*row) break;
      const std::int64_t created = batch_oldest.column_int64(4);
      DropGroup* g = nullptr;
      if (age_cap && created < cutoff)
        g = &plan.age;
      else if (bytes_cap && plan.bytes_after + reserve > limits.max_bytes)
        g = &plan.size;
      else
        break;
      const std::uint64_t first = batch_oldest.column_uint64(0);
      const std::uint64_t pbytes = batch_oldest.column_uint64(3);
      plan.first_seqs.push_back(first);
      g->first_seq = std::min(g->first_seq, first);
      g->last_seq = std::max(g->last_seq, batch_oldest.column_uint64(1));
      g->events += batch_oldest.column_uint64(2);
      g->batches += 1;
      g->bytes += pbytes;
      g->first_time_ns = std::min(g->first_time_ns, batch_oldest.column_int64(5));
      g->last_time_ns = std::max(g->last_time_ns, batch_oldest.column_int64(6));
      plan.bytes_after -= std::min(plan.bytes_after, pbytes);
    }
    return plan;
  }
};

namespace {

v1::Event loss_event(const DropGroup& g, std::int64_t now_ns) {
  v1::Event e;
  e.set_time_ns(now_ns);
  e.set_type("agent.loss");
  e.set_login_uid(kUnsetLoginUid);  // the agent itself, not a login session
  auto* l = e.mutable_loss();
  l->set_first_seq(g.first_seq);
  l->set_last_seq(g.last_seq);
  l->set_events(g.events);
  l->set_batches(g.batches);
  l->set_bytes(g.bytes);
  l->set_first_time_ns(g.first_time_ns);
  l->set_last_time_ns(g.last_time_ns);
  l->set_reason(g.reason);
  return e;
}

std::vector<v1::Event> loss_events(const DropPlan& plan, std::int64_t now_ns) {
  std::vector<v1::Event> out;
  // Age drops are the oldest, so they come first, as in seq order.
  if (plan.age.batches) out.push_back(loss_event(plan.age, now_ns));
  if (plan.size.batches) out.push_back(loss_event(plan.size, now_ns));
  return out;
}

}  // namespace

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

Result<std::unique_ptr<Spool>> Spool::open(const std::string& path, const std::string& device_id,
                                           const SpoolLimits& limits) {
  if (device_id.empty()) return err("cannot open spool " + path + ": empty device id (enroll first)");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->limits = limits;
  impl->device_id = device_id;
  auto db = Database::open(path);
  if (!db) return err(db.error());
  impl->db = std::move(*db);
  auto& d = impl->db;
  const auto where = " (spool " + path + ")";

  sqlite3_busy_timeout(d.get(), 5000);
  {
    auto mode = Statement::prepare(d, "PRAGMA journal_mode=WAL");
    if (!mode) return err(mode.error() + where);
    auto u = mode->use();
    auto row = mode->step();
    if (!row) return err(row.error() + where);
    if (!*row || mode->column_text(0) != "wal")
      return err("cannot switch spool " + path + " to WAL journal mode (filesystem without shared memory?)");
  }
  // synchronous=NORMAL in WAL: a commit survives a process crash (the WAL is in the OS cache), not
  // a power loss; fsync happens at WAL checkpoints. 16 MB of page cache keeps the checkpoint
  // table's upper B-tree levels in memory (checkpoint upserts are the spool's main SQLite cost).
  for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA journal_size_limit=67108864",
                             "PRAGMA cache_size=-16384"})
    if (auto s = d.exec(pragma); !s) return err(s.error() + where);

  {
    auto ver = Statement::prepare(d, "PRAGMA user_version");
    if (!ver) return err(ver.error() + where);
    auto u = ver->use();
    auto row = ver->step();
    if (!row) return err(row.error() + where);
    const std::int64_t v = *row ? ver->column_int64(0) : 0;
    if (v > kSpoolSchema)
      return err("spool " + path + " has layout version " + std::to_string(v) +
                 ", newer than this agent understands (" + std::to_string(kSpoolSchema) + ")");
  }
  if (auto s = d.exec(std::string("BEGIN IMMEDIATE;") + kSchemaSql + "PRAGMA user_version=" +
                      std::to_string(kSpoolSchema) + ";COMMIT;");
      !s) {
    (void)d.exec("ROLLBACK");
    return err("cannot create the spool schema: " + s.error() + where);
  }

  struct Prep {
    Statement* stmt;
    const char* sql;
  };
  const Prep preps[] = {
      {&impl->begin, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
      {&impl->meta_get, "SELECT value FROM meta WHERE key = ?1"},
      {&impl->meta_put, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
      {&impl->batch_insert,
       "INSERT INTO batches(first_seq, last_seq, event_count, uncompressed_bytes, payload_bytes, "
       "created_ns, min_time_ns, max_time_ns, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
      {&impl->batch_delete, "DELETE FROM batches WHERE first_seq = ?1 RETURNING payload_bytes"},
      {&impl->batch_pending,
       "SELECT first_seq, last_seq, event_count, uncompressed_bytes, created_ns, payload "
       "FROM batches WHERE first_seq > ?1 ORDER BY first_seq LIMIT ?2"},
      {&impl->batch_oldest,
       "SELECT first_seq, last_seq, event_count, payload_bytes, created_ns, min_time_ns, max_time_ns "
       "FROM batches ORDER BY first_seq"},
      {&impl->cp_upsert, "INSERT INTO checkpoint(path, size, mtime_ns) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns"},
      {&impl->cp_delete, "DELETE FROM checkpoint WHERE path = ?1"},
      {&impl->log_insert, "INSERT INTO checkpoint_log(entries, updates) VALUES(?1, ?2)"},
      {&impl->log_all, "SELECT updates, id FROM checkpoint_log ORDER BY id"},
      {&impl->log_clear, "DELETE FROM checkpoint_log"},
      {&impl->cp_under, "SELECT path, size, mtime_ns FROM checkpoint "
                        "WHERE path = ?1 OR (path >= ?2 AND path < ?3) ORDER BY path"},
      {&impl->cp_delete_under, "DELETE FROM checkpoint WHERE path = ?1 OR (path >= ?2 AND path < ?3)"},
      {&impl->root_get, "SELECT 1 FROM baselined_roots WHERE root = ?1"},
      {&impl->root_put, "INSERT OR IGNORE INTO baselined_roots(root) VALUES(?1)"},
  };
  for (const auto& p : preps) {
    auto s = Statement::prepare(d, p.sql);
    if (!s) return err(s.error() + where);
    *p.stmt = std::move(*s);
  }

  // Identity, sequence and the previous run, read before anything changes them.
  auto txn = impl->transaction();
  if (!txn) return err(txn.error() + where);
  auto stored_id = impl->meta_text("device_id");
  if (!stored_id) return err(stored_id.error() + where);
  if (!stored_id->has_value()) {
    if (auto s = impl->put_meta("device_id", device_id); !s) return err(s.error() + where);
  } else if (**stored_id != device_id) {
    return err("spool " + path + " belongs to device " + **stored_id + ", not " + device_id +
               " (a spool holds one enrolled identity's events; move it aside to start over)");
  }

  auto next = impl->meta_int("next_seq");
  if (!next) return err(next.error() + where);
  std::uint64_t highest = 0, count = 0, bytes = 0;
  {
    auto q = Statement::prepare(d, "SELECT coalesce(max(last_seq), 0), count(*), coalesce(sum(payload_bytes), 0) FROM batches");
    if (!q) return err(q.error() + where);
    auto u = q->use();
    auto row = q->step();
    if (!row) return err(row.error() + where);
    highest = q->column_uint64(0);
    count = q->column_uint64(1);
    bytes = q->column_uint64(2);
  }
  // next_seq is written with every batch; taking the max also covers a spool whose meta row was
  // lost, so a seq is never handed out twice.
  impl->next_seq = std::max<std::uint64_t>({1, static_cast<std::uint64_t>(next->value_or(1)), highest + 1});
  impl->batch_count = count;
  impl->bytes = bytes;
  if (!next->has_value() || static_cast<std::uint64_t>(**next) != impl->next_seq)
    if (auto s = impl->put_meta("next_seq", static_cast<std::int64_t>(impl->next_seq)); !s)
      return err(s.error() + where);

  // Start with an empty checkpoint log: the reconciliation that follows reads the checkpoint.
  {
    auto left = impl->read_log();
    if (!left) return err("reading the checkpoint log: " + left.error() + where);
    if (auto s = impl->fold_checkpoint_log(*left); !s) return err(s.error() + where);
  }

  auto hb = impl->meta_int("last_heartbeat_ns");
  auto clean = impl->meta_int("clean_shutdown");
  if (!hb) return err(hb.error() + where);
  if (!clean) return err(clean.error() + where);
  impl->previous.first_run = !hb->has_value();
  impl->previous.last_heartbeat_ns = hb->value_or(0);
  impl->previous.clean_shutdown = clean->value_or(0) != 0;
  if (auto s = txn->commit(); !s) return err(s.error() + where);

  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Result<SeqRange> Spool::append(std::vector<v1::Event>& events,
                               const std::vector<CheckpointEntry>& checkpoint_updates) {
  auto& m = *impl_;
  if (events.empty()) return err("spool append: no events given (an empty batch is not stored)");
  auto txn = m.transaction();
  if (!txn) return err(txn.error());
  auto a = m.append_in_txn(events, checkpoint_updates, vigil::now_ns());
  if (!a) return err(a.error());
  if (auto s = txn->commit(); !s) return err("spool append: " + s.error());
  m.next_seq = a->range.last + 1;
  m.bytes += a->payload_bytes;
  m.batch_count += 1;
  m.logged(checkpoint_updates, a->folded);
  return a->range;
}

Result<std::vector<SpooledBatch>> Spool::pending(std::uint64_t after_seq, std::size_t max_batches) {
  auto& m = *impl_;
  std::vector<SpooledBatch> out;
  if (max_batches == 0) return out;
  auto u = m.batch_pending.use();
  m.batch_pending.bind(1, after_seq);
  m.batch_pending.bind(2, static_cast<std::int64_t>(
                              std::min<std::size_t>(max_batches, std::numeric_limits<std::int64_t>::max())));
  for (;;) {
    auto row = m.batch_pending.step();
    if (!row) return err("spool pending: " + row.error());
    if (!*row) break;
    SpooledBatch b;
    b.first_seq = m.batch_pending.column_uint64(0);
    b.last_seq = m.batch_pending.column_uint64(1);
    b.event_count = static_cast<std::uint32_t>(m.batch_pending.column_uint64(2));
    b.uncompressed_bytes = m.batch_pending.column_uint64(3);
    b.created_ns = m.batch_pending.column_int64(4);
    b.zstd_payload = m.batch_pending.column_blob(5);
    out.push_back(std::move(b));
  }
  return out;
}

Status Spool::ack(std::uint64_t first_seq) {
  auto& m = *impl_;
  std::optional<std::uint64_t> freed;
  {
    auto u = m.batch_delete.use();
    m.batch_delete.bind(1, first_seq);
    for (;;) {  // step to completion: the delete is only done once the statement finishes
      auto row = m.batch_delete.step();
      if (!row) return err("spool ack of batch " + std::to_string(first_seq) + ": " + row.error());
      if (!*row) break;
      freed = m.batch_delete.column_uint64(0);
    }
  }
  if (freed) {
    m.bytes -= std::min(m.bytes, *freed);
    m.batch_count -= std::min<std::uint64_t>(m.batch_count, 1);
  }
  return {};
}

Result<CapOutcome> Spool::enforce_caps(std::int64_t now_ns) {
  auto& m = *impl_;
  CapOutcome out;
  auto txn = m.transaction();
  if (!txn) return err("spool caps: " + txn.error());
  auto plan = m.plan_drops(now_ns, 0);
  if (!plan) return err("spool caps: " + plan.error());
  if (plan->first_seqs.empty()) return out;  // nothing written; the transaction rolls back

  // The loss batch itself takes room: if it would leave the spool over the byte cap, drop a little
  // more now rather than drop again (and report a loss again) on the next call.
  if (m.limits.max_bytes > 0) {
    v1::EventBatch probe;
    probe.set_schema_version(kSchemaVersion);
    probe.set_device_id(m.device_id);
    probe.set_first_seq(m.next_seq);
    probe.set_last_seq(m.next_seq + 1);
    for (auto& e : loss_events(*plan, now_ns)) {
      e.set_seq(m.next_seq);
      *probe.add_events() = std::move(e);
    }
    // Margin: the real loss batch may differ by some varint bytes, or hold one more loss event
    // (bytes cap) when the plan below adds drops for the reserve.
    const std::uint64_t reserve = encode_batch(probe).size() + 128;
    if (plan->bytes_after + reserve > m.limits.max_bytes) {
      plan = m.plan_drops(now_ns, reserve);
      if (!plan) return err("spool caps: " + plan.error());
    }
  }

  for (std::uint64_t first : plan->first_seqs) {
    auto u = m.batch_delete.use();
    m.batch_delete.bind(1, first);
    if (auto s = m.batch_delete.run(); !s) return err("spool caps: dropping batch " + std::to_string(first) + ": " + s.error());
  }
  auto events = loss_events(*plan, now_ns);
  auto a = m.append_in_txn(events, {}, now_ns);
  if (!a) return err("spool caps: appending the agent.loss batch: " + a.error());
  if (auto s = txn->commit(); !s) return err("spool caps: " + s.error());

  m.bytes = plan->bytes_after + a->payload_bytes;
  m.batch_count = m.batch_count - std::min<std::uint64_t>(m.batch_count, plan->first_seqs.size()) + 1;
  m.next_seq = a->range.last + 1;
  out.dropped_batches = plan->first_seqs.size();
  out.dropped_events = plan->age.events + plan->size.events;
  out.loss_event = a->range;
  return out;
}

std::uint64_t Spool::next_seq() const { return impl_->next_seq; }
std::uint64_t Spool::bytes() const { return impl_->bytes; }
std::uint64_t Spool::batch_count() const { return impl_->batch_count; }
RunState Spool::previous_run() const { return impl_->previous; }

Status Spool::heartbeat(std::int64_t now_ns) {
  auto& m = *impl_;
  auto txn = m.transaction();
  if (!txn) return err("spool heartbeat: " + txn.error());
  if (auto s = m.put_meta("last_heartbeat_ns", now_ns); !s) return err("spool heartbeat: " + s.error());
  if (auto s = m.put_meta("clean_shutdown", std::int64_t{0}); !s) return err("spool heartbeat: " + s.error());
  if (auto s = txn->commit(); !s) return err("spool heartbeat: " + s.error());
  return {};
}

Status Spool::mark_clean_shutdown(std::int64_t now_ns) {
  auto& m = *impl_;
  auto txn = m.transaction();
  if (!txn) return err("spool clean shutdown: " + txn.error());
  if (auto s = m.put_meta("last_heartbeat_ns", now_ns); !s) return err("spool clean shutdown: " + s.error());
  if (auto s = m.put_meta("clean_shutdown", std::int64_t{1}); !s) return err("spool clean shutdown: " + s.error());
  if (auto s = txn->commit(); !s) return err("spool clean shutdown: " + s.error());
  return {};
}

Result<std::vector<CheckpointEntry>> Spool::checkpoint_under(const std::string& root) const {
  auto& m = *impl_;
  const auto r = prefix_range(root);
  std::vector<CheckpointEntry> out;
  {
    auto u = m.cp_under.use();
    m.cp_under.bind_text(1, r.exact);
    m.cp_under.bind_text(2, r.lower);
    m.cp_under.bind_text(3, r.upper);
    for (;;) {
      auto row = m.cp_under.step();
      if (!row) return err("spool checkpoint of " + root + ": " + row.error());
      if (!*row) break;
      CheckpointEntry c;
      c.path = m.cp_under.column_text(0);
      c.size = m.cp_under.column_uint64(1);
      c.mtime_ns = m.cp_under.column_int64(2);
      out.push_back(std::move(c));
    }
  }
  if (m.overlay.empty()) return out;
  // Recent updates not folded yet, on top of the table.
  std::map<std::string, CheckpointEntry> merged;
  for (auto& c : out) {
    std::string key = c.path;
    merged.emplace(std::move(key), std::move(c));
  }
  auto apply = [&](const std::string& path, const Impl::NetUpdate& n) {
    if (n.removed)
      merged.erase(path);
    else
      merged[path] = CheckpointEntry{path, n.size, n.mtime_ns, false};
  };
  // A scan of at most kFoldEntries paths: range lookups are rare (startup, directory renames).
  for (const auto& [path, n] : m.overlay)
    if (path_under(path, r)) apply(path, n);
  out.clear();
  out.reserve(merged.size());
  for (auto& [path, c] : merged) out.push_back(std::move(c));
  return out;
}

Result<bool> Spool::root_baselined(const std::string& root) const {
  auto& m = *impl_;
  auto u = m.root_get.use();
  m.root_get.bind_text(1, normalize_root(root));
  auto row = m.root_get.step();
  if (!row) return err("spool baseline lookup of " + root + ": " + row.error());
  return *row;
}

Status Spool::baseline_root(const std::string& root, const std::vector<CheckpointEntry>& entries) {
  auto& m = *impl_;
  const auto r = prefix_range(root);
  for (const auto& e : entries)
    if (!path_under(e.path, r))
      return err("spool baseline of " + r.exact + ": entry " + e.path + " is not under the root");
  auto txn = m.transaction();
  if (!txn) return err("spool baseline of " + r.exact + ": " + txn.error());
  // Fold first: an older logged update must not override the baseline at the next fold.
  if (auto s = m.fold_checkpoint_log(); !s) return err("spool baseline of " + r.exact + ": " + s.error());
  {
    auto u = m.cp_delete_under.use();
    m.cp_delete_under.bind_text(1, r.exact);
    m.cp_delete_under.bind_text(2, r.lower);
    m.cp_delete_under.bind_text(3, r.upper);
    if (auto s = m.cp_delete_under.run(); !s) return err("spool baseline of " + r.exact + ": " + s.error());
  }
  for (const auto& e : entries) {
    if (e.removed) continue;
    auto u = m.cp_upsert.use();
    m.cp_upsert.bind_text(1, e.path);
    m.cp_upsert.bind(2, e.size);
    m.cp_upsert.bind(3, e.mtime_ns);
    if (auto s = m.cp_upsert.run(); !s) return err("spool baseline of " + r.exact + ": " + s.error());
  }
  {
    auto u = m.root_put.use();
    m.root_put.bind_text(1, r.exact);
    if (auto s = m.root_put.run(); !s) return err("spool baseline of " + r.exact + ": " + s.error());
  }
  if (auto s = txn->commit(); !s) return err("spool baseline of " + r.exact + ": " + s.error());
  m.logged({}, true);
  return {};
}

}  // namespace vigil::agent
