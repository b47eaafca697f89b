#include "agent/collection_config.h"

#include <google/protobuf/util/json_util.h>

#include "shared/collection_config.h"
#include "shared/file_util.h"

namespace vigil::agent {

Result<CompiledCollectionConfig> compile_collection_config(const v1::CollectionConfig& config) {
  auto classifier = validate_collection_config(config);
  if (!classifier) return err(classifier.error());
  return CompiledCollectionConfig{config, std::shared_ptr<const Classifier>(std::move(classifier).value())};
}

std::string collection_config_path(const std::string& data_dir) { return data_dir + "/collection.json"; }

Result<std::optional<v1::CollectionConfig>> load_collection_config(const std::string& path) {
  if (!file_exists(path)) return std::optional<v1::CollectionConfig>();
  auto text = read_file(path);
  if (!text) return err(text.error());
  v1::CollectionConfig c;
  auto st = google::protobuf::util::JsonStringToMessage(*text, &c);
  if (!st.ok()) return err(path + ": not a collection config: " + std::string(st.message()));
  if (c.version() == 0) return err(path + ": collection config without a version");
  if (auto v = validate_collection_config(c); !v) return err(path + ": " + v.error());
  return std::optional<v1::CollectionConfig>(std::move(c));
}

Status save_collection_config(const std::string& path, const v1::CollectionConfig& config) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string text;
  auto st = google::protobuf::util::MessageToJsonString(config, &text, o);
  if (!st.ok()) return err("rendering the collection config: " + std::string(st.message()));
  return write_file_atomic(path, text, 0600);
}

std::vector<std::string> effective_watch(const v1::CollectionConfig* config, const std::vector<std::string>& local) {
  if (!config || config->watch_paths().empty()) return local;
  return {config->watch_paths().begin(), config->watch_paths().end()};
}

std::vector<std::string> effective_excludes(const v1::CollectionConfig* config, const std::vector<std::string>& local) {
  std::vector<std::string> out = local;
  if (config) out.insert(out.end(), config->exclude_paths().begin(), config->exclude_paths().end());
  return out;
}

DerivationOptions derivation_options_for(const v1::CollectionConfig& config, DerivationOptions base) {
  if (config.classify_max_bytes()) base.scan_limits.max_bytes = config.classify_max_bytes();
  if (config.classify_max_ms()) base.scan_limits.max_time = std::chrono::milliseconds(config.classify_max_ms());
  base.priority_paths.assign(config.priority_paths().begin(), config.priority_paths().end());
  return base;
}

}  // namespace vigil::agent
