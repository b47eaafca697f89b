// The JSON form of a collection config (PUT/GET /api/v1/collection-config, vigilctl config).
//
// Promises:
// - collection_config_from_json() is strict: an unknown field, a wrong type or a number out of
//   its type's range is an error naming the field (rules[1].min_count); absent fields take their
//   defaults (lists empty, limits 0 = the agent's default, classification_enabled true).
//   "version" is returned separately for the caller's concurrency check; "updated" and "source"
//   (what GET adds) are accepted and ignored so a shown config can be edited and set again.
// - collection_config_to_json() renders every field, defaults included.
#pragma once
#include <boost/json.hpp>
#include <optional>

#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::collector {

struct ParsedCollectionConfig {
  v1::CollectionConfig config;
  std::optional<std::uint64_t> expected_version;  // "version" when the body gave one
};

Result<ParsedCollectionConfig> collection_config_from_json(const boost::json::value& body);
boost::json::object collection_config_to_json(const v1::CollectionConfig& config);

}  // namespace vigil::collector
