#include "shared/collection_config.h"

#include <cmath>
#include <string>

namespace vigil {

namespace {

using namespace config_limits;

// proto3 strings must be UTF-8 (protobuf refuses to parse them otherwise), so the check is made
// here, where the error can name the field, rather than in a parser on the other side.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 0;
    if (n == 0 || i + n >= s.size()) return false;  // a lead byte without all its continuations
    std::uint32_t cp = c & (n == 1 ? 0x1Fu : n == 2 ? 0x0Fu : 0x07u);
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    // Overlong forms, surrogates and values above U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

Status check_paths(const google::protobuf::RepeatedPtrField<std::string>& paths, const char* field, bool glob) {
  if (static_cast<std::size_t>(paths.size()) > kMaxPaths)
    return err(std::string(field) + ": at most " + std::to_string(kMaxPaths) + " entries (got " +
               std::to_string(paths.size()) + ")");
  for (int i = 0; i < paths.size(); ++i) {
    const std::string& p = paths[i];
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
    if (p.empty()) return err(where + ": empty path");
    if (p.size() > kMaxPathBytes) return err(where + ": longer than " + std::to_string(kMaxPathBytes) + " bytes");
    if (p.find('\0') != std::string::npos) return err(where + ": contains a NUL byte");
    if (!valid_utf8(p)) return err(where + ": is not valid UTF-8");
    // Relative paths would mean something different on every agent (its working directory).
    if (p.front() != '/') return err(where + ": must be an absolute path" + std::string(glob ? " or glob" : "") + " starting with '/'");
  }
  return {};
}

}  // namespace

Result<std::vector<ClassifierRule>> rules_from_config(const v1::CollectionConfig& config) {
  if (static_cast<std::size_t>(config.rules_size()) > kMaxRules)
    return err("rules: at most " + std::to_string(kMaxRules) + " rules (got " + std::to_string(config.rules_size()) + ")");
  std::vector<ClassifierRule> out;
  out.reserve(static_cast<std::size_t>(config.rules_size()));
  for (int i = 0; i < config.rules_size(); ++i) {
    const auto& spec = config.rules(i);
    const std::string where = "rules[" + std::to_string(i) + "] (id '" + spec.id().substr(0, 80) + "')";
    if (!valid_utf8(spec.id()) || !valid_utf8(spec.kind()) || !valid_utf8(spec.regex()))
      return err("rules[" + std::to_string(i) + "]: id, kind and regex must be valid UTF-8");
    for (const auto& k : spec.keywords())
      if (!valid_utf8(k)) return err(where + ": a keyword is not valid UTF-8");
    ClassifierRule r;
    r.id = spec.id();
    if (spec.kind() == "keywords") r.kind = ClassifierRule::Kind::Keywords;
    else if (spec.kind() == "regex") r.kind = ClassifierRule::Kind::Regex;
    else if (spec.kind() == "builtin") r.kind = ClassifierRule::Kind::Builtin;
    else return err(where + ": kind must be keywords, regex or builtin (got '" + spec.kind().substr(0, 40) + "')");
    if (r.kind != ClassifierRule::Kind::Keywords && spec.keywords_size() > 0)
      return err(where + ": keywords are only for kind keywords");
    if (r.kind != ClassifierRule::Kind::Regex && !spec.regex().empty())
      return err(where + ": regex is only for kind regex");
    if (static_cast<std::size_t>(spec.keywords_size()) > kMaxKeywordsPerRule)
      return err(where + ": at most " + std::to_string(kMaxKeywordsPerRule) + " keywords");
    for (const auto& k : spec.keywords())
      if (k.size() > kMaxPatternBytes) return err(where + ": a keyword is longer than " + std::to_string(kMaxPatternBytes) + " bytes");
    if (spec.regex().size() > kMaxPatternBytes)
      return err(where + ": regex is longer than " + std::to_string(kMaxPatternBytes) + " bytes");
    r.keywords.assign(spec.keywords().begin(), spec.keywords().end());
    r.regex = spec.regex();
    r.case_insensitive = spec.case_insensitive();
    // 0 is proto3's "not set": the classifier's default of 1.
    r.min_count = spec.min_count() == 0 ? 1 : spec.min_count();
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::unique_ptr<Classifier>> validate_collection_config(const v1::CollectionConfig& config) {
  if (auto s = check_paths(config.watch_paths(), "watch_paths", false); !s) return err(s.error());
  if (auto s = check_paths(config.exclude_paths(), "exclude_paths", false); !s) return err(s.error());
  if (auto s = check_paths(config.priority_paths(), "priority_paths", true); !s) return err(s.error());
  if (config.classify_max_bytes() > kMaxClassifyBytes)
    return err("classify_max_bytes: at most " + std::to_string(kMaxClassifyBytes) + " (0: the agent's default)");
  if (config.classify_max_ms() > kMaxClassifyMs)
    return err("classify_max_ms: at most " + std::to_string(kMaxClassifyMs) + " (0: the agent's default)");
  const double cpu = config.cpu_limit_percent();
  if (!std::isfinite(cpu) || cpu < 0 || cpu > kMaxCpuLimitPercent)
    return err("cpu_limit_percent: must be from 0 to " + std::to_string(static_cast<int>(kMaxCpuLimitPercent)) +
               " (0: the agent's default)");
  if (config.rss_limit_bytes() != 0 && config.rss_limit_bytes() < kMinRssLimitBytes)
    return err("rss_limit_bytes: 0 (the agent's default) or at least " + std::to_string(kMinRssLimitBytes));
  auto rules = rules_from_config(config);
  if (!rules) return err(rules.error());
  auto classifier = Classifier::create(*rules);
  if (!classifier) return err("rules: " + classifier.error());
  return std::move(classifier).value();
}

}  // namespace vigil
