// The JSON form of policies, DLP rules, HR records, user attributes and templates (API, storage,
// vigilctl --json). docs/POLICIES.md documents it.
//
// Promises:
// - The *_from_json parsers are strict: an unknown field, a wrong type or a value out of range is
//   an error naming the field ("indicators.print.job.weight must be a number from 0 to 1000");
//   nothing is half-filled on error. Read-only fields that the API adds (id, version, created,
//   updated, health) are accepted and ignored, so what GET shows can be edited and PUT back.
// - policy_from_json starts from the template's defaults: indicators given are overrides of the
//   template's ({id: {weight, threshold, enabled}}, each part optional); an indicator the template
//   does not score is an error.
// - *_to_json renders every field, defaults included; times as RFC 3339.
#pragma once
#include <boost/json.hpp>

#include "collector/policy/model.h"
#include "shared/result.h"

namespace vigil::collector::policy {

inline constexpr std::size_t kMaxNameBytes = 128;

Result<Policy> policy_from_json(const boost::json::value& body);
boost::json::object policy_to_json(const Policy& policy);
// policy_to_json plus "health": {"warnings": [...]}.
boost::json::object policy_to_json(const Policy& policy, const PolicyHealth& health);

Result<DlpRule> dlp_rule_from_json(const boost::json::value& body);
boost::json::object dlp_rule_to_json(const DlpRule& rule);

boost::json::object hr_record_to_json(const HrRecord& record);
boost::json::object attributes_to_json(const UserAttributes& attributes);
boost::json::object template_to_json(Template t);

// "YYYY-MM-DD" of a UTC midnight in ns (HR dates).
std::string format_date(std::int64_t time_ns);

}  // namespace vigil::collector::policy
