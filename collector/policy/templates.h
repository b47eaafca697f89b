// The eight policy templates (issue 4; ../shared/seeds): what each one is called, which
// indicators it scores with which default weight and daily threshold, its default timespans and
// minimum risk threshold, and what it needs before its trigger can fire (HR resignation data,
// HR performance data, a DLP rule, priority user groups).
//
// Promises:
// - template_info() knows every Template; indicators are listed in a stable order.
// - default_policy() is a Policy filled with the template's defaults (no id, no times).
// - policy_health() never refuses a policy: missing prerequisites and settings that leave the
//   policy unable to alert are warnings, worded for the person who has to fix them.
#pragma once
#include <string>
#include <vector>

#include "collector/policy/directory.h"
#include "collector/policy/model.h"

namespace vigil::collector::policy {

struct TemplatePrerequisites {
  bool hr_resignation = false;   // resignation / last working date rows (departing users)
  bool hr_performance = false;   // performance review / improvement plan / demotion rows (disgruntled)
  bool dlp_rule = false;         // an enabled DLP rule; high severity matches trigger
  bool priority_groups = false;  // users with a priority group (priority users)
};

struct TemplateInfo {
  Template tmpl;
  std::string display_name;
  std::string description;
  std::string trigger;           // what brings a user into scope, in words
  std::vector<IndicatorSetting> indicators;
  std::uint32_t in_scope_days = 30;
  std::uint32_t historic_days = 90;
  double min_risk_threshold = 20;
  TemplatePrerequisites needs;
};

const std::vector<TemplateInfo>& all_templates();
const TemplateInfo& template_info(Template t);

// Every indicator id the engine knows (model.h's IndicatorSetting comment), in a stable order.
const std::vector<std::string>& known_indicator_ids();
bool is_known_indicator(const std::string& id);

Policy default_policy(Template t);

// What the health check needs to know about the directory, gathered once.
struct DirectoryFacts {
  bool has_resignation = false;       // any resignation or last_working_date row
  bool has_performance = false;       // any performance_review / improvement_plan / demotion row
  std::size_t enabled_dlp_rules = 0;
  std::size_t enabled_high_dlp_rules = 0;
  std::size_t users_with_priority_groups = 0;
  std::vector<std::string> priority_groups;   // sorted, distinct
  std::vector<std::string> attribute_groups;  // "department:X", "region:X", "manager:X"; sorted, distinct
  std::vector<std::string> known_users;       // users with attributes or HR rows; sorted, distinct
};
DirectoryFacts gather_facts(const PolicyDirectory& directory);

PolicyHealth policy_health(const Policy& policy, const DirectoryFacts& facts);
PolicyHealth policy_health(const Policy& policy, const PolicyDirectory& directory);

}  // namespace vigil::collector::policy
