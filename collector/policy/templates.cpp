#include "collector/policy/templates.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace vigil::collector::policy {

namespace {

// Weights are the score of one occurrence above its daily threshold; the engine boosts them
// (baseline, priority content, after hours, sequences). Removable media and sensitive content
// weigh most because they are how data leaves; deletions are common, so they only count in bulk.
std::vector<IndicatorSetting> data_leak_indicators() {
  return {
      {"exfil.removable", true, 10, 1},
      {"exfil.network_share", true, 8, 1},
      {"print.job", true, 5, 3},
      {"file.archive_created", true, 4, 1},
      {"file.extension_mismatch", true, 6, 1},
      {"file.bulk", true, 6, 1},
      {"file.sensitive", true, 8, 1},
      {"file.delete", true, 2, 20},
  };
}

// Turning a control off is rarer and worse than any single file activity.
std::vector<IndicatorSetting> security_indicators() {
  return {
      {"security.firewall", true, 15, 1},
      {"security.audit", true, 15, 1},
      {"security.lsm", true, 15, 1},
      {"security.sudoers", true, 12, 1},
      {"security.pam", true, 12, 1},
      {"security.sshd", true, 10, 1},
      {"security.screen_lock", true, 5, 1},
      {"agent.tamper", true, 20, 1},
      {"file.extension_mismatch", true, 6, 1},
  };
}

std::vector<TemplateInfo> build() {
  std::vector<TemplateInfo> t;
  auto add = [&](Template id, std::string name, std::string description, std::string trigger,
                 std::vector<IndicatorSetting> indicators, std::uint32_t in_scope, std::uint32_t historic,
                 double threshold, TemplatePrerequisites needs) {
    t.push_back(TemplateInfo{id, std::move(name), std::move(description), std::move(trigger), std::move(indicators),
                             in_scope, historic, threshold, needs});
  };
  add(Template::DataTheftDepartingUsers, "Data theft by departing users",
      "Detects data taken by users who gave notice: copies to removable media or shares, printing, archiving, "
      "renaming and deleting around their resignation or last working date.",
      "an HR resignation or last working date row for the user", data_leak_indicators(), 30, 90, 20,
      {.hr_resignation = true});
  add(Template::GeneralDataLeaks, "General data leaks",
      "Detects sensitive data leaving through removable media, network shares, printing or archives for any "
      "user in scope, once a high-severity DLP rule matches their activity.",
      "a high-severity DLP rule match", data_leak_indicators(), 30, 90, 30, {.dlp_rule = true});
  add(Template::DataLeaksPriorityUsers, "Data leaks by priority users",
      "Like general data leaks, for users in priority groups (executives, researchers, admins) whose smaller "
      "leaks matter more: a lower risk threshold.",
      "a high-severity DLP rule match by a user in a priority group", data_leak_indicators(), 30, 90, 10,
      {.dlp_rule = true, .priority_groups = true});
  add(Template::DataLeaksDisgruntledUsers, "Data leaks by disgruntled users",
      "Detects data leaks by users after a poor performance review, an improvement plan or a demotion.",
      "an HR performance review, improvement plan or demotion row for the user", data_leak_indicators(), 30, 90,
      20, {.hr_performance = true, .dlp_rule = true});
  add(Template::GeneralSecurityViolations, "General security policy violations",
      "Detects users weakening the endpoint: firewall, audit or LSM turned off, sudoers/PAM/sshd edited, screen "
      "lock disabled, the agent tampered with, files disguised by their extension.",
      "any security policy violation", security_indicators(), 30, 90, 25, {});
  add(Template::SecurityViolationsDepartingUsers, "Security policy violations by departing users",
      "Security policy violations by users who gave notice.",
      "an HR resignation or last working date row for the user", security_indicators(), 30, 90, 15,
      {.hr_resignation = true});
  add(Template::SecurityViolationsPriorityUsers, "Security policy violations by priority users",
      "Security policy violations by users in priority groups: a lower risk threshold.",
      "a security policy violation by a user in a priority group", security_indicators(), 30, 90, 10,
      {.priority_groups = true});
  add(Template::SecurityViolationsDisgruntledUsers, "Security policy violations by disgruntled users",
      "Security policy violations by users after a poor performance review, an improvement plan or a demotion.",
      "an HR performance review, improvement plan or demotion row for the user", security_indicators(), 30, 90,
      15, {.hr_performance = true});
  return t;
}

template <typename T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

bool contains(const std::vector<std::string>& sorted, const std::string& s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

}  // namespace

const std::vector<TemplateInfo>& all_templates() {
  static const std::vector<TemplateInfo> templates = build();
  return templates;
}

const TemplateInfo& template_info(Template t) {
  for (const auto& i : all_templates())
    if (i.tmpl == t) return i;
  throw std::logic_error("template_info: unknown template");  // every enumerator is in build()
}

const std::vector<std::string>& known_indicator_ids() {
  static const std::vector<std::string> ids{
      "exfil.removable",  "exfil.network_share", "print.job",     "file.archive_created", "file.extension_mismatch",
      "file.delete",      "file.bulk",           "file.sensitive", "security.firewall",   "security.audit",
      "security.lsm",     "security.sudoers",    "security.pam",   "security.sshd",       "security.screen_lock",
      "agent.tamper"};
  return ids;
}

bool is_known_indicator(const std::string& id) {
  const auto& ids = known_indicator_ids();
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

Policy default_policy(Template t) {
  const auto& info = template_info(t);
  Policy p;
  p.tmpl = t;
  p.indicators = info.indicators;
  p.in_scope_days = info.in_scope_days;
  p.historic_days = info.historic_days;
  p.min_risk_threshold = info.min_risk_threshold;
  return p;
}

DirectoryFacts gather_facts(const PolicyDirectory& directory) {
  DirectoryFacts f;
  for (const auto& r : directory.hr_records()) {
    if (r.kind == HrEventKind::Resignation || r.kind == HrEventKind::LastWorkingDate) f.has_resignation = true;
    else f.has_performance = true;
    f.known_users.push_back(r.user);
  }
  for (const auto& a : directory.user_attributes()) {
    f.known_users.push_back(a.user);
    if (!a.priority_groups.empty()) ++f.users_with_priority_groups;
    for (const auto& g : a.priority_groups) f.priority_groups.push_back(g);
    if (!a.department.empty()) f.attribute_groups.push_back("department:" + a.department);
    if (!a.region.empty()) f.attribute_groups.push_back("region:" + a.region);
    if (!a.manager.empty()) f.attribute_groups.push_back("manager:" + a.manager);
  }
  for (const auto& d : directory.dlp_rules()) {
    if (!d.enabled) continue;
    ++f.enabled_dlp_rules;
    if (d.severity == Severity::High) ++f.enabled_high_dlp_rules;
  }
  sort_unique(f.priority_groups);
  sort_unique(f.attribute_groups);
  sort_unique(f.known_users);
  return f;
}

PolicyHealth policy_health(const Policy& p, const DirectoryFacts& f) {
  PolicyHealth h;
  const auto& info = template_info(p.tmpl);
  auto warn = [&](std::string w) { h.warnings.push_back(std::move(w)); };
  if (!p.enabled) warn("the policy is disabled: it scores nothing and raises no alerts");
  if (info.needs.hr_resignation && !f.has_resignation)
    warn("no HR resignation data imported: this template's trigger (resignation or last working date) cannot "
         "fire; import HR data (docs/HR_IMPORT.md)");
  if (info.needs.hr_performance && !f.has_performance)
    warn("no HR performance data imported: this template's trigger (performance review, improvement plan or "
         "demotion) cannot fire; import HR data (docs/HR_IMPORT.md)");
  if (info.needs.dlp_rule) {
    if (f.enabled_dlp_rules == 0)
      warn("no enabled DLP rule: this template's trigger (a high-severity DLP match) cannot fire; create one "
           "(vigilctl dlp-rules create)");
    else if (f.enabled_high_dlp_rules == 0)
      warn("no enabled high-severity DLP rule: only high-severity matches trigger this template");
  }
  if (info.needs.priority_groups && f.users_with_priority_groups == 0)
    warn("no priority user groups imported: nobody can be a priority user, so this template cannot fire; import "
         "user attributes with priority_groups (docs/HR_IMPORT.md)");
  if (!p.all_users && p.users.empty() && p.groups.empty())
    warn("the policy covers no users: set all_users, users or groups");
  for (const auto& g : p.groups) {
    const bool attribute = g.find(':') != std::string::npos;
    if (attribute ? !contains(f.attribute_groups, g) : !contains(f.priority_groups, g))
      warn("group '" + g + "' has no members in the imported user attributes");
  }
  for (const auto& u : p.users)
    if (!f.known_users.empty() && !contains(f.known_users, u))
      warn("user '" + u + "' has no imported attributes or HR rows (fine if the name matches what agents report)");
  if (std::none_of(p.indicators.begin(), p.indicators.end(), [](const IndicatorSetting& i) { return i.enabled; }))
    warn("every indicator is disabled: nothing can score");
  return h;
}

PolicyHealth policy_health(const Policy& policy, const PolicyDirectory& directory) {
  return policy_health(policy, gather_facts(directory));
}

}  // namespace vigil::collector::policy
