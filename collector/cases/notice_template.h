// Notice templates: {{placeholder}} text for reminder notices (docs/CASES.md "Notices").
//
// Promises:
// - check_template() accepts only the known placeholders ({{user}}, {{case_id}}, {{sender}},
//   {{date}}, {{case_title}}), so a typo is refused when the template is created, never mailed
//   to an employee as "{{usr}}". Unclosed "{{" is refused too.
// - A subject is one line: CR/LF in it (before or after filling in) are refused, so no value can
//   inject a mail header.
// - render() fills every placeholder; it never leaves one behind.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shared/result.h"

namespace vigil::collector::cases {

inline constexpr std::size_t kMaxTemplateName = 128, kMaxSubject = 200, kMaxTemplateBody = 20000;

// The placeholders a template may use, in the order they are documented.
const std::vector<std::string_view>& notice_placeholders();

// Validates name, subject and body; the error names the field and what is wrong.
Status check_template(const std::string& name, const std::string& subject, const std::string& body);

// values: placeholder name -> text (every known placeholder must be present).
std::string render_template(std::string_view text, const std::map<std::string, std::string>& values);

}  // namespace vigil::collector::cases
