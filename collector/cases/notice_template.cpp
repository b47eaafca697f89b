#include "collector/cases/notice_template.h"

#include <algorithm>

namespace vigil::collector::cases {

const std::vector<std::string_view>& notice_placeholders() {
  static const std::vector<std::string_view> kNames{"user", "case_id", "case_title", "sender", "date"};
  return kNames;
}

namespace {

std::string known_list() {
  std::string out;
  for (auto n : notice_placeholders()) out += (out.empty() ? "{{" : ", {{") + std::string(n) + "}}";
  return out;
}

// Calls on_placeholder(name) for each {{name}} (spaces inside allowed); error on an unclosed one.
template <typename F>
Status scan(std::string_view text, std::string_view field, F&& on_placeholder) {
  std::size_t at = 0;
  while ((at = text.find("{{", at)) != std::string_view::npos) {
    auto end = text.find("}}", at + 2);
    if (end == std::string_view::npos)
      return err("'" + std::string(field) + "' has a '{{' that is never closed with '}}'");
    std::string_view name = text.substr(at + 2, end - at - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (auto st = on_placeholder(name, at, end + 2); !st) return st;
    at = end + 2;
  }
  return {};
}

bool has_control(std::string_view s, bool allow_newlines) {
  return std::any_of(s.begin(), s.end(), [&](char c) {
    auto u = static_cast<unsigned char>(c);
    if (allow_newlines && (c == '\n' || c == '\r' || c == '\t')) return false;
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

Status check_template(const std::string& name, const std::string& subject, const std::string& body) {
  if (name.empty() || name.size() > kMaxTemplateName) return err("'name' must be 1 to 128 characters");
  if (has_control(name, false)) return err("'name' must not contain control characters");
  if (subject.empty() || subject.size() > kMaxSubject) return err("'subject' must be 1 to 200 characters");
  if (has_control(subject, false)) return err("'subject' must be one line without control characters");
  if (body.empty() || body.size() > kMaxTemplateBody) return err("'body' must be 1 to 20000 characters");
  if (has_control(body, true)) return err("'body' must not contain control characters other than newlines and tabs");
  for (auto [field, text] : {std::pair<std::string_view, const std::string*>{"subject", &subject}, {"body", &body}}) {
    auto st = scan(*text, field, [&](std::string_view n, std::size_t, std::size_t) -> Status {
      const auto& known = notice_placeholders();
      if (std::find(known.begin(), known.end(), n) == known.end())
        return err("'" + std::string(field) + "' uses unknown placeholder '{{" + std::string(n) + "}}' (known: " +
                   known_list() + ")");
      return {};
    });
    if (!st) return st;
  }
  return {};
}

std::string render_template(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t copied = 0;
  // Templates are checked at creation, so scan cannot fail here; an unknown name (impossible)
  // renders empty rather than leaking braces to an employee.
  (void)scan(text, "", [&](std::string_view n, std::size_t from, std::size_t to) -> Status {
    out.append(text.substr(copied, from - copied));
    auto it = values.find(std::string(n));
    if (it != values.end()) out += it->second;
    copied = to;
    return {};
  });
  out.append(text.substr(copied));
  return out;
}

}  // namespace vigil::collector::cases
