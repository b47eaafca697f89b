// NameRedactor: finds the real names of known users in free text (HR detail, trigger detail,
// explanation reasons, case notes, file paths) and replaces each with what a caller is shown for
// it, so a pseudonymised caller does not read a name that the user fields hide.
//
// Promises:
// - A name is found only as a whole word: the characters around it are not letters, digits or
//   '_' ("al" is not found in "alert"; "tina" is found in "/home/tina/x", "tina@corp" and
//   "tina-plan.docx"). Names shorter than kMinRedactedName are never looked for (a user "a" would
//   otherwise rewrite every "a" of a sentence): their user fields are still pseudonymised.
// - One left-to-right pass, longest name first at each position ("alice.smith" before "alice"),
//   so a replacement is never matched again; pseudonyms already in the text are kept as they are.
// - Case-sensitive, like account names.
#pragma once
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector::auth {

inline constexpr std::size_t kMinRedactedName = 3;

class NameRedactor {
 public:
  NameRedactor() = default;
  explicit NameRedactor(const std::vector<std::string>& names);

  // text with every known name (and every name of `also`) replaced by shown(name).
  std::string replace(std::string_view text, const std::function<std::string(const std::string&)>& shown,
                      const std::vector<std::string>& also = {}) const;
  std::size_t size() const { return names_.size(); }

 private:
  std::set<std::string, std::less<>> names_;
  std::vector<std::size_t> lengths_;  // distinct lengths of names_, longest first
};

}  // namespace vigil::collector::auth
