#include "collector/config/collection_configs.h"

#include <mutex>

#include "collector/store/sqlite_util.h"

namespace vigil::collector {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
using sqlite::Use;

// AUTOINCREMENT: SQLite then never hands out a version again, even after the newest row is gone.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS collection_configs(
  version INTEGER PRIMARY KEY AUTOINCREMENT,
  scope TEXT NOT NULL,                 -- '' for the global config, else a device id
  inherits INTEGER NOT NULL DEFAULT 0, -- 1: a removed override; the device follows the global config
  body BLOB NOT NULL,                  -- serialized vigil.v1.CollectionConfig (version included)
  created_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS collection_configs_by_scope ON collection_configs(scope, version);
CREATE TABLE IF NOT EXISTS device_config_state(
  device_id TEXT PRIMARY KEY,
  running_version INTEGER NOT NULL DEFAULT 0,
  reported_ns INTEGER NOT NULL DEFAULT 0,
  error_version INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT ''
);
)sql";

Result<Db> open_connection(const std::string& path, int flags) {
  auto db = Db::open(path, flags);
  if (!db) return err(db.error());
  if (auto st = db->exec("PRAGMA busy_timeout=" + std::to_string(sqlite::kBusyTimeoutMs), "configure connection"); !st)
    return err(st.error());
  return db;
}

}  // namespace

struct CollectionConfigs::Impl {
  std::mutex w_mu, r_mu, listener_mu;
  Db writer, reader;
  Stmt insert, stamp, latest_w, running, applied_ok, applied_error;
  Stmt latest_r, states;
  std::function<void()> listener;

  static Result<StoredCollectionConfig> read_row(Use& u) {
    StoredCollectionConfig s;
    const auto body = u.blob(0);
    if (!s.config.ParseFromArray(body.data(), static_cast<int>(body.size())))
      return err("stored collection config " + std::to_string(u.int64(1)) + " does not parse");
    s.config.set_version(u.uint64(1));
    s.scope = std::string(u.text(2));
    s.inherits = u.int64(3) != 0;
    s.created_ns = u.int64(4);
    return s;
  }

  static Result<std::optional<StoredCollectionConfig>> latest_with(Stmt& stmt, const std::string& scope) {
    Use u(stmt);
    u.bind(1, std::string_view(scope));
    auto row = u.step();
    if (!row) return err(row.error());
    if (!*row) return std::optional<StoredCollectionConfig>();
    auto s = read_row(u);
    if (!s) return err(s.error());
    return std::optional<StoredCollectionConfig>(std::move(*s));
  }

  // Inserts a row; the version is the new rowid. Caller holds w_mu and a transaction.
  Result<std::uint64_t> insert_row(const std::string& scope, bool inherits, v1::CollectionConfig config,
                                   std::int64_t now_ns) {
    // The body is written twice: once to learn the version SQLite assigns, then with it inside,
    // so what is stored is exactly what agents receive.
    config.set_version(0);
    std::string body = config.SerializeAsString();
    {
      Use u(insert);
      u.bind(1, std::string_view(scope)).bind(2, std::int64_t{inherits ? 1 : 0}).bind_blob(3, body).bind(4, now_ns);
      if (auto st = u.run(); !st) return err(st.error());
    }
    const auto version = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(writer.get()));
    config.set_version(version);
    body = config.SerializeAsString();
    Use u(stamp);
    u.bind(1, version).bind_blob(2, body);
    if (auto s = u.run(); !s) return err(s.error());
    return version;
  }

  void changed() {
    std::function<void()> l;
    {
      std::lock_guard lock(listener_mu);
      l = listener;
    }
    if (l) l();
  }
};

CollectionConfigs::CollectionConfigs(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CollectionConfigs::~CollectionConfigs() = default;

Result<std::unique_ptr<CollectionConfigs>> CollectionConfigs::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  auto w = open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!w) return err(w.error());
  impl->writer = std::move(*w);
  auto mode = impl->writer.query_text("PRAGMA journal_mode=WAL", "set journal mode");
  if (!mode) return err(mode.error());
  {
    auto txn = Txn::begin(impl->writer, /*immediate=*/true);
    if (!txn) return err(txn.error());
    if (auto st = impl->writer.exec(kSchema, "create collection config tables"); !st) return err(st.error());
    if (auto st = txn->commit(); !st) return err(st.error());
  }
  auto r = open_connection(path, SQLITE_OPEN_READWRITE);
  if (!r) return err(r.error());
  impl->reader = std::move(*r);
  if (auto st = impl->reader.exec("PRAGMA query_only=1", "configure reader"); !st) return err(st.error());

  constexpr const char* kLatest =
      "SELECT body, version, scope, inherits, created_ns FROM collection_configs WHERE scope = ?1 "
      "ORDER BY version DESC LIMIT 1";
  struct Spec {
    Db* db;
    Stmt* stmt;
    const char* what;
    const char* sql;
  };
  const Spec specs[] = {
      {&impl->writer, &impl->insert, "insert collection config",
       "INSERT INTO collection_configs(scope, inherits, body, created_ns) VALUES(?1, ?2, ?3, ?4)"},
      {&impl->writer, &impl->stamp, "stamp collection config version",
       "UPDATE collection_configs SET body = ?2 WHERE version = ?1"},
      {&impl->writer, &impl->latest_w, "read latest collection config", kLatest},
      {&impl->reader, &impl->latest_r, "read latest collection config", kLatest},
      {&impl->writer, &impl->running, "record running config version",
       "INSERT INTO device_config_state(device_id, running_version, reported_ns) VALUES(?1, ?2, ?3) "
       "ON CONFLICT(device_id) DO UPDATE SET running_version = excluded.running_version, "
       "reported_ns = excluded.reported_ns"},
      {&impl->writer, &impl->applied_ok, "record applied config",
       "INSERT INTO device_config_state(device_id, running_version, reported_ns) VALUES(?1, ?2, ?3) "
       "ON CONFLICT(device_id) DO UPDATE SET running_version = excluded.running_version, "
       "reported_ns = excluded.reported_ns, "
       "error = CASE WHEN error_version <= excluded.running_version THEN '' ELSE error END, "
       "error_version = CASE WHEN error_version <= excluded.running_version THEN 0 ELSE error_version END"},
      {&impl->writer, &impl->applied_error, "record refused config",
       "INSERT INTO device_config_state(device_id, reported_ns, error_version, error) VALUES(?1, ?3, ?2, ?4) "
       "ON CONFLICT(device_id) DO UPDATE SET reported_ns = excluded.reported_ns, "
       "error_version = excluded.error_version, error = excluded.error"},
      {&impl->reader, &impl->states, "read device config states",
       "SELECT device_id, running_version, reported_ns, error_version, error FROM device_config_state"},
  };
  for (const auto& s : specs) {
    auto st = Stmt::prepare(s.db->get(), s.sql, s.what);
    if (!st) return err(st.error());
    *s.stmt = std::move(st).value();
  }
  return std::unique_ptr<CollectionConfigs>(new CollectionConfigs(std::move(impl)));
}

Result<CollectionConfigs::PutResult> CollectionConfigs::put(const std::string& device, v1::CollectionConfig config,
                                                              std::int64_t now_ns,
                                                              std::optional<std::uint64_t> expected_version) {
  PutResult out;
  {
    std::lock_guard lock(impl_->w_mu);
    auto txn = Txn::begin(impl_->writer, /*immediate=*/true);
    if (!txn) return err(txn.error());
    auto cur = Impl::latest_with(impl_->latest_w, device);
    if (!cur) return err(cur.error());
    out.current_version = *cur ? (*cur)->config.version() : 0;
    if (expected_version && *expected_version != out.current_version) {
      out.conflict = true;
      return out;
    }
    auto v = impl_->insert_row(device, false, config, now_ns);
    if (!v) return err(v.error());
    if (auto st = txn->commit(); !st) return err(st.error());
    config.set_version(*v);
    out.stored = std::move(config);
  }
  impl_->changed();
  return out;
}

Result<std::uint64_t> CollectionConfigs::remove_override(const std::string& device, std::int64_t now_ns) {
  if (device.empty()) return err("remove override: no device given");
  std::uint64_t version = 0;
  {
    std::lock_guard lock(impl_->w_mu);
    auto txn = Txn::begin(impl_->writer, /*immediate=*/true);
    if (!txn) return err(txn.error());
    auto cur = Impl::latest_with(impl_->latest_w, device);
    if (!cur) return err(cur.error());
    if (!*cur || (*cur)->inherits) return std::uint64_t{0};
    auto v = impl_->insert_row(device, true, v1::CollectionConfig(), now_ns);
    if (!v) return err(v.error());
    if (auto st = txn->commit(); !st) return err(st.error());
    version = *v;
  }
  impl_->changed();
  return version;
}

Result<std::optional<StoredCollectionConfig>> CollectionConfigs::latest(const std::string& scope) {
  std::lock_guard lock(impl_->r_mu);
  auto txn = Txn::begin(impl_->reader, /*immediate=*/false);
  if (!txn) return err(txn.error());
  return Impl::latest_with(impl_->latest_r, scope);
}

Result<std::optional<v1::CollectionConfig>> CollectionConfigs::effective(const std::string& device) {
  std::lock_guard lock(impl_->r_mu);
  auto txn = Txn::begin(impl_->reader, /*immediate=*/false);  // one snapshot for both reads
  if (!txn) return err(txn.error());
  std::optional<StoredCollectionConfig> own;
  if (!device.empty()) {
    auto o = Impl::latest_with(impl_->latest_r, device);
    if (!o) return err(o.error());
    own = std::move(*o);
  }
  if (own && !own->inherits) return std::optional<v1::CollectionConfig>(std::move(own->config));
  auto global = Impl::latest_with(impl_->latest_r, "");
  if (!global) return err(global.error());
  if (!*global && !own) return std::optional<v1::CollectionConfig>();
  // A removed override: the global config (or none: the agents' local settings) under a
  // version above the override's, so the device moves on from it.
  v1::CollectionConfig out = *global ? (*global)->config : v1::CollectionConfig();
  if (own && own->config.version() > out.version()) out.set_version(own->config.version());
  return std::optional<v1::CollectionConfig>(std::move(out));
}

Status CollectionConfigs::record_running(const std::string& device, std::uint64_t version, std::int64_t now_ns) {
  std::lock_guard lock(impl_->w_mu);
  Use u(impl_->running);
  u.bind(1, std::string_view(device)).bind(2, version).bind(3, now_ns);
  return u.run();
}

Status CollectionConfigs::record_applied(const std::string& device, const v1::ConfigApplied& applied,
                                         std::int64_t now_ns) {
  std::lock_guard lock(impl_->w_mu);
  if (applied.ok()) {
    Use u(impl_->applied_ok);
    u.bind(1, std::string_view(device)).bind(2, applied.version()).bind(3, now_ns);
    return u.run();
  }
  // Bounded: the text comes from the agent.
  std::string why = applied.error().substr(0, 1024);
  if (why.empty()) why = "(the agent gave no reason)";
  Use u(impl_->applied_error);
  u.bind(1, std::string_view(device)).bind(2, applied.version()).bind(3, now_ns).bind(4, std::string_view(why));
  return u.run();
}

Result<std::map<std::string, DeviceConfigState>> CollectionConfigs::device_states() {
  std::lock_guard lock(impl_->r_mu);
  Use u(impl_->states);
  std::map<std::string, DeviceConfigState> out;
  auto rows = sqlite::each_row(u, [&](const Use& u) {
    DeviceConfigState s;
    s.running_version = u.uint64(1);
    s.reported_ns = u.int64(2);
    s.error_version = u.uint64(3);
    s.error = std::string(u.text(4));
    out.emplace(std::string(u.text(0)), std::move(s));
  });
  if (!rows) return err(rows.error());
  return out;
}

void CollectionConfigs::set_change_listener(std::function<void()> listener) {
  std::lock_guard lock(impl_->listener_mu);
  impl_->listener = std::move(listener);
}

}  // namespace vigil::collector
