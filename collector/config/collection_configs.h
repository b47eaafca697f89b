// CollectionConfigs: the collection configs the collector pushes to agents (what to watch, what
// to classify), and what each device reported back. Kept in the collector's SQLite database
// (tables collection_configs and device_config_state) beside the EventStore's tables.
//
// Promises:
// - Versions come from one sequence shared by every scope and only grow: each put() (and each
//   removal of a device override) gets a version above every earlier one, never reused, also
//   across restarts. The stored config carries its version.
// - Scopes: the global config (device "") applies to every device without an override; a device
//   override replaces it for that device. effective() is what a device must run: its override,
//   else the global config. Removing an override makes the device follow the global config
//   again under a version above the removed override's, so an agent (which only applies
//   versions above its own) takes it.
// - put() stores what it is given: callers validate first (validate_collection_config).
// - The change listener runs after every committed put()/remove_override(), on the caller's
//   thread (ingest uses it to push the new config to connected agents).
// - Thread-safe; reads and writes use separate connections (WAL), each behind its own mutex.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::collector {

struct StoredCollectionConfig {
  v1::CollectionConfig config;  // version set
  std::string scope;            // "" global, else the device id
  std::int64_t created_ns = 0;
  bool inherits = false;        // a removed override: the device follows the global config
};

// What a device last said about its collection config.
struct DeviceConfigState {
  std::uint64_t running_version = 0;  // from Hello, or ConfigApplied ok
  std::int64_t reported_ns = 0;
  std::uint64_t error_version = 0;    // the last version it refused (0: none outstanding)
  std::string error;                  // why; cleared when it applies that version or a later one
};

class CollectionConfigs {
 public:
  // path: the collector's database (DATA_DIR/vigil.db). Creates the tables when missing.
  static Result<std::unique_ptr<CollectionConfigs>> open(const std::string& path);
  ~CollectionConfigs();

  struct PutResult {
    bool conflict = false;          // expected_version was given and is not the scope's latest
    std::uint64_t current_version;  // the scope's latest version before this call (0: none)
    v1::CollectionConfig stored;    // with its new version, when stored
  };
  // Stores config (its version field is ignored) as the global config (device "") or the
  // device's override. With expected_version, stores only if the scope's latest version (0 when
  // none) still equals it, checked in the same transaction (two editors cannot both win).
  Result<PutResult> put(const std::string& device, v1::CollectionConfig config, std::int64_t now_ns,
                        std::optional<std::uint64_t> expected_version = std::nullopt);
  // The device follows the global config again. Returns the new version, or 0 when the device
  // had no override (nothing changes then).
  Result<std::uint64_t> remove_override(const std::string& device, std::int64_t now_ns);

  // The latest stored config of a scope (nullopt: never set, or an override that was removed).
  Result<std::optional<StoredCollectionConfig>> latest(const std::string& scope);
  // What the device must run; nullopt when no config was ever set for it.
  Result<std::optional<v1::CollectionConfig>> effective(const std::string& device);

  // The agent said (Hello) it runs `version`.
  Status record_running(const std::string& device, std::uint64_t version, std::int64_t now_ns);
  // The agent's answer to a pushed config.
  Status record_applied(const std::string& device, const v1::ConfigApplied& applied, std::int64_t now_ns);
  Result<std::map<std::string, DeviceConfigState>> device_states();

  void set_change_listener(std::function<void()> listener);

 private:
  struct Impl;
  explicit CollectionConfigs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::collector
