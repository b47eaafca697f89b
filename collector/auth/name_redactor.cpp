#include "collector/auth/name_redactor.h"

#include <algorithm>

#include "collector/auth/secrets.h"

namespace vigil::collector::auth {

namespace {

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;  // a UTF-8 letter continues a word too
}

// "user-" + 12 hex digits: the length of a pseudonym (Pseudonymizer).
constexpr std::size_t kPseudonymLength = 17;

}  // namespace

NameRedactor::NameRedactor(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (n.size() >= kMinRedactedName) names_.insert(n);
  for (const auto& n : names_) lengths_.push_back(n.size());
  std::sort(lengths_.begin(), lengths_.end(), std::greater<>());
  lengths_.erase(std::unique(lengths_.begin(), lengths_.end()), lengths_.end());
}

std::string NameRedactor::replace(std::string_view text, const std::function<std::string(const std::string&)>& shown,
                                  const std::vector<std::string>& also) const {
  std::vector<std::string_view> extra;
  for (const auto& a : also)
    if (a.size() >= kMinRedactedName && !names_.count(a)) extra.push_back(a);
  std::sort(extra.begin(), extra.end(), [](auto a, auto b) { return a.size() > b.size(); });
  if (names_.empty() && extra.empty()) return std::string(text);

  std::string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  auto ends_word = [&](std::size_t end) { return end == n || !word_char(text[end]); };
  std::size_t i = 0;
  while (i < n) {
    if (i > 0 && word_char(text[i - 1])) {
      out.push_back(text[i++]);
      continue;
    }
    // A pseudonym in the text stays whole (a user named "user" must not rewrite it).
    if (i + kPseudonymLength <= n && ends_word(i + kPseudonymLength) &&
        Pseudonymizer::looks_like_pseudonym(text.substr(i, kPseudonymLength))) {
      out.append(text.substr(i, kPseudonymLength));
      i += kPseudonymLength;
      continue;
    }
    std::string_view found;
    for (auto e : extra)  // longest first; a known name of the same length is as good
      if (i + e.size() <= n && text.compare(i, e.size(), e) == 0 && ends_word(i + e.size())) {
        found = e;
        break;
      }
    for (std::size_t len : lengths_) {
      if (len <= found.size()) break;
      if (i + len > n || !ends_word(i + len)) continue;
      if (auto it = names_.find(text.substr(i, len)); it != names_.end()) {
        found = *it;
        break;
      }
    }
    if (found.empty()) {
      out.push_back(text[i++]);
      continue;
    }
    out += shown(std::string(found));
    i += found.size();
  }
  return out;
}

}  // namespace vigil::collector::auth
