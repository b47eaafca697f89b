// The collection config the collector pushed (CollectionConfig, shared/proto/vigil.proto) as the
// agent keeps and applies it: validated with the collector's own check, persisted in
// DATA_DIR/collection.json so a restart runs the same config (and says so in Hello), and turned
// into what capture and classification need.
//
// Promises:
// - compile_collection_config() accepts exactly what the collector's API accepts
//   (validate_collection_config) and hands back the compiled Classifier.
// - save_collection_config() writes atomically (temp file, fsync, rename; mode 0600): a crash
//   leaves the old file or the new one, never a torn one.
// - load_collection_config(): no file is "no config" (nullopt); a file that does not parse or
//   no longer validates is an error value (the caller runs without it and says so).
// - watch/exclude: a non-empty watch_paths replaces the agent's local watch list (agent.toml or
//   --watch); exclude_paths are added to the local excludes, never replace them.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/activity_deriver.h"
#include "shared/classifier.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::agent {

struct CompiledCollectionConfig {
  v1::CollectionConfig config;
  std::shared_ptr<const Classifier> classifier;
};

Result<CompiledCollectionConfig> compile_collection_config(const v1::CollectionConfig& config);

std::string collection_config_path(const std::string& data_dir);  // DATA_DIR/collection.json
Result<std::optional<v1::CollectionConfig>> load_collection_config(const std::string& path);
Status save_collection_config(const std::string& path, const v1::CollectionConfig& config);

std::vector<std::string> effective_watch(const v1::CollectionConfig* config, const std::vector<std::string>& local);
std::vector<std::string> effective_excludes(const v1::CollectionConfig* config, const std::vector<std::string>& local);
// Scan limits and priority paths from the config over `base` (0 in the config keeps base's).
DerivationOptions derivation_options_for(const v1::CollectionConfig& config, DerivationOptions base = {});

}  // namespace vigil::agent
