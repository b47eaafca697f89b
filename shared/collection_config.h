// Collection config (CollectionConfig in shared/proto/vigil.proto): what the collector tells
// agents to watch and how to classify. Both sides check a config with the same function, so the
// collector refuses (400) exactly what an agent would refuse to apply.
//
// Promises:
// - validate_collection_config() accepts a config only if every field is in range and every
//   classification rule compiles with shared/classifier.h's Classifier (the real Hyperscan
//   compile, not a guess); the error names the field (watch_paths[2], rules[id=tickets]) and
//   says why.
// - rules_from_config() maps the wire rules onto ClassifierRule; kinds other than keywords,
//   regex and builtin are errors naming the rule.
// - Nothing here touches the filesystem or the network.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "shared/classifier.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil {

namespace config_limits {
inline constexpr std::size_t kMaxPaths = 256;          // per list (watch, exclude, priority)
inline constexpr std::size_t kMaxPathBytes = 4096;     // PATH_MAX
inline constexpr std::size_t kMaxRules = 256;
inline constexpr std::size_t kMaxKeywordsPerRule = 1000;
inline constexpr std::size_t kMaxPatternBytes = 4096;  // one keyword or regex
inline constexpr std::uint64_t kMaxClassifyBytes = 1ull << 30;
inline constexpr std::uint32_t kMaxClassifyMs = 60000;
inline constexpr double kMaxCpuLimitPercent = 100.0;
inline constexpr std::uint64_t kMinRssLimitBytes = 16ull << 20;
}  // namespace config_limits

Result<std::vector<ClassifierRule>> rules_from_config(const v1::CollectionConfig& config);

// Checks fields and compiles the rules; on success returns the compiled Classifier so a caller
// that applies the config does not compile it twice.
Result<std::unique_ptr<Classifier>> validate_collection_config(const v1::CollectionConfig& config);

}  // namespace vigil
