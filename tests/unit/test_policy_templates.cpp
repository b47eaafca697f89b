// Policy templates (collector/policy/templates.h), their health check against a real
// SqlitePolicyStore, and the strict policy JSON (policy_json.h). Tag: [policy_templates].
#include <catch2/catch.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "collector/policy/policy_json.h"
#include "collector/policy/policy_store.h"
#include "collector/policy/templates.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector::policy;
using namespace vigil::test;
namespace json = boost::json;

namespace {

bool has_warning(const PolicyHealth& h, const std::string& part) {
  return std::any_of(h.warnings.begin(), h.warnings.end(), [&](const std::string& w) { return w.find(part) != std::string::npos; });
}

std::set<std::string> ids(const std::vector<IndicatorSetting>& v) {
  std::set<std::string> out;
  for (const auto& i : v) out.insert(i.id);
  return out;
}

std::int64_t day(int n) { return std::int64_t{n} * 86400LL * 1000000000LL; }

}  // namespace

TEST_CASE("all eight templates exist with indicators, defaults and prerequisites", "[policy_templates]") {
  const auto& all = all_templates();
  REQUIRE(all.size() == 8);
  std::set<std::string> names;
  for (const auto& t : all) {
    INFO(to_string(t.tmpl));
    CHECK(template_from_string(to_string(t.tmpl)) == t.tmpl);
    CHECK_FALSE(t.display_name.empty());
    CHECK_FALSE(t.description.empty());
    CHECK_FALSE(t.indicators.empty());
    CHECK(t.min_risk_threshold > 0);
    CHECK(t.in_scope_days > 0);
    names.insert(t.display_name);
    for (const auto& i : t.indicators) {
      CHECK(is_known_indicator(i.id));
      CHECK(i.weight > 0);
      CHECK(i.threshold >= 1);
    }
  }
  CHECK(names.size() == 8);
  const std::set<std::string> leak{"exfil.removable", "exfil.network_share", "print.job", "file.archive_created",
                                   "file.extension_mismatch", "file.bulk", "file.sensitive", "file.delete"};
  CHECK(ids(template_info(Template::DataTheftDepartingUsers).indicators) == leak);
  CHECK(ids(template_info(Template::GeneralDataLeaks).indicators) == leak);
  const auto sec = ids(template_info(Template::GeneralSecurityViolations).indicators);
  CHECK(sec.count("security.firewall"));
  CHECK(sec.count("agent.tamper"));
  CHECK(sec.count("file.extension_mismatch"));
  CHECK_FALSE(sec.count("exfil.removable"));

  CHECK(template_info(Template::DataTheftDepartingUsers).needs.hr_resignation);
  CHECK(template_info(Template::GeneralDataLeaks).needs.dlp_rule);
  CHECK(template_info(Template::DataLeaksPriorityUsers).needs.dlp_rule);
  CHECK(template_info(Template::DataLeaksPriorityUsers).needs.priority_groups);
  CHECK(template_info(Template::DataLeaksDisgruntledUsers).needs.hr_performance);
  const auto& general_sec = template_info(Template::GeneralSecurityViolations).needs;
  CHECK_FALSE((general_sec.hr_resignation || general_sec.hr_performance || general_sec.dlp_rule || general_sec.priority_groups));
  CHECK(template_info(Template::SecurityViolationsDepartingUsers).needs.hr_resignation);
  CHECK(template_info(Template::SecurityViolationsPriorityUsers).needs.priority_groups);
  CHECK(template_info(Template::SecurityViolationsDisgruntledUsers).needs.hr_performance);
  // Priority users alert on less.
  CHECK(template_info(Template::DataLeaksPriorityUsers).min_risk_threshold <
        template_info(Template::GeneralDataLeaks).min_risk_threshold);
}

TEST_CASE("health warnings follow the imported prerequisites", "[policy_templates]") {
  TempDir dir("vigil-policy-health");
  auto store = SqlitePolicyStore::open(dir.file("vigil.db"));
  REQUIRE(store.ok());
  auto& s = *store.value();

  auto departing = default_policy(Template::DataTheftDepartingUsers);
  auto disgruntled = default_policy(Template::DataLeaksDisgruntledUsers);
  auto priority = default_policy(Template::SecurityViolationsPriorityUsers);
  auto leaks = default_policy(Template::GeneralDataLeaks);
  auto security = default_policy(Template::GeneralSecurityViolations);

  CHECK(has_warning(policy_health(departing, s), "no HR resignation data imported"));
  CHECK(has_warning(policy_health(disgruntled, s), "no HR performance data imported"));
  CHECK(has_warning(policy_health(disgruntled, s), "no enabled DLP rule"));
  CHECK(has_warning(policy_health(priority, s), "no priority user groups imported"));
  CHECK(has_warning(policy_health(leaks, s), "no enabled DLP rule"));
  CHECK(policy_health(security, s).warnings.empty());

  // A performance row does not satisfy the departing template, and vice versa.
  REQUIRE(s.upsert_hr_records({HrRecord{"bob", HrEventKind::Demotion, day(20000), "", "t"}}).ok());
  CHECK(has_warning(policy_health(departing, s), "no HR resignation data imported"));
  CHECK_FALSE(has_warning(policy_health(disgruntled, s), "no HR performance data"));
  REQUIRE(s.upsert_hr_records({HrRecord{"alice", HrEventKind::LastWorkingDate, day(20001), "", "t"}}).ok());
  CHECK(policy_health(departing, s).warnings.empty());

  // A low-severity rule is not enough to trigger; a disabled one does not count.
  DlpRule low;
  low.name = "low";
  low.info_types = {{"credit_card", 1}};
  low.severity = Severity::Low;
  REQUIRE(s.create_dlp_rule(low).ok());
  CHECK(has_warning(policy_health(leaks, s), "no enabled high-severity DLP rule"));
  DlpRule high = low;
  high.name = "high";
  high.severity = Severity::High;
  high.enabled = false;
  auto created = s.create_dlp_rule(high);
  REQUIRE(created.ok());
  CHECK(has_warning(policy_health(leaks, s), "no enabled high-severity DLP rule"));
  high.enabled = true;
  REQUIRE(s.update_dlp_rule(created.value().value.id, high).ok());
  CHECK(policy_health(leaks, s).warnings.empty());
  CHECK(policy_health(disgruntled, s).warnings.empty());

  REQUIRE(s.upsert_user_attributes({UserAttributes{"carol", "Research", "EU", "dave", {"execs"}}}).ok());
  CHECK(policy_health(priority, s).warnings.empty());

  // Scoping that reaches nobody, unknown groups, everything disabled.
  priority.all_users = false;
  CHECK(has_warning(policy_health(priority, s), "covers no users"));
  priority.groups = {"execs", "department:Research", "department:Sales", "board"};
  auto h = policy_health(priority, s);
  CHECK_FALSE(has_warning(h, "'execs'"));
  CHECK_FALSE(has_warning(h, "'department:Research'"));
  CHECK(has_warning(h, "group 'department:Sales' has no members"));
  CHECK(has_warning(h, "group 'board' has no members"));
  security.enabled = false;
  for (auto& i : security.indicators) i.enabled = false;
  h = policy_health(security, s);
  CHECK(has_warning(h, "disabled"));
  CHECK(has_warning(h, "every indicator is disabled"));
}

TEST_CASE("policy JSON is strict, starts from template defaults and round-trips", "[policy_templates]") {
  auto parse = [](const std::string& text) { return policy_from_json(json::parse(text)); };
  auto p = parse(R"({"name":"Departing","template":"data_theft_departing_users",
                      "indicators":{"print.job":{"weight":7.5},"file.delete":{"enabled":false,"threshold":50}},
                      "users":["alice"],"priority_paths":["/srv/projects/**"],"min_risk_threshold":12})");
  REQUIRE(p.ok());
  CHECK_FALSE(p.value().all_users);
  CHECK(p.value().users == std::vector<std::string>{"alice"});
  CHECK(p.value().in_scope_days == template_info(Template::DataTheftDepartingUsers).in_scope_days);
  CHECK(p.value().min_risk_threshold == 12);
  for (const auto& i : p.value().indicators) {
    if (i.id == "print.job") CHECK(i.weight == 7.5);
    if (i.id == "print.job") CHECK(i.threshold == 3);  // the template's, not overridden
    if (i.id == "file.delete") CHECK((!i.enabled && i.threshold == 50));
  }
  // Round trip: what is shown parses back to the same policy (read-only fields ignored).
  Policy shown = p.value();
  shown.id = "p-7";
  shown.version = 3;
  auto back = policy_from_json(json::value(policy_to_json(shown, PolicyHealth{{"a warning"}})));
  REQUIRE(back.ok());
  CHECK(json::serialize(policy_to_json(back.value())) == json::serialize(policy_to_json(p.value())));

  struct Bad {
    const char* body;
    const char* names;
  };
  for (const auto& b : {
           Bad{R"({"name":"x","template":"general_data_leaks","colour":"red"})", "unknown field 'colour'"},
           Bad{R"({"name":"x"})", "'template' is required"},
           Bad{R"({"template":"general_data_leaks"})", "'name' is required"},
           Bad{R"({"name":"x","template":"steal_everything"})", "'template' 'steal_everything' is not a template"},
           Bad{R"({"name":"","template":"general_data_leaks"})", "'name' must not be empty"},
           Bad{R"({"name":"x","template":"general_data_leaks","in_scope_days":"30"})", "'in_scope_days' must be an integer"},
           Bad{R"({"name":"x","template":"general_data_leaks","in_scope_days":0})", "'in_scope_days' must be an integer from 1"},
           Bad{R"({"name":"x","template":"general_data_leaks","users":"alice"})", "'users' must be an array"},
           Bad{R"({"name":"x","template":"general_data_leaks","users":["a",3]})", "'users[1]' must be a string"},
           Bad{R"({"name":"x","template":"general_data_leaks","all_users":true,"users":["a"]})", "'all_users' is true"},
           Bad{R"({"name":"x","template":"general_data_leaks","indicators":{"security.firewall":{}}})",
               "'indicators.security.firewall': template general_data_leaks has no indicator"},
           Bad{R"({"name":"x","template":"general_data_leaks","indicators":{"print.job":{"weight":-1}}})",
               "'indicators.print.job.weight' must be a number from 0"},
           Bad{R"({"name":"x","template":"general_data_leaks","indicators":{"print.job":{"wieght":1}}})",
               "unknown field 'indicators.print.job.wieght'"},
           Bad{R"({"name":"x","template":"general_data_leaks","enabled":"yes"})", "'enabled' must be true or false"},
           Bad{R"([1,2])", "must be a JSON object"},
       }) {
    INFO(b.body);
    auto r = parse(b.body);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::Contains(b.names));
  }
  // A hostile name: control characters refused, 4 KB refused, by field.
  CHECK_THAT(parse(R"({"name":"a\nb","template":"general_data_leaks"})").error(), Catch::Contains("control characters"));
  CHECK_THAT(parse(R"({"name":")" + std::string(4096, 'n') + R"(","template":"general_data_leaks"})").error(),
             Catch::Contains("'name' is longer than 128 bytes"));
}

TEST_CASE("DLP rule JSON is strict", "[policy_templates]") {
  auto r = dlp_rule_from_json(json::parse(R"({"name":"cards","info_types":{"credit_card":5,"iban":1},
                                              "channels":["removable","print"],"severity":"high"})"));
  REQUIRE(r.ok());
  CHECK(r.value().severity == Severity::High);
  CHECK(r.value().info_types.at("credit_card") == 5);
  CHECK(r.value().enabled);
  auto d = dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{"a":1}})"));
  REQUIRE(d.ok());
  CHECK(d.value().channels == std::vector<std::string>{"any"});
  CHECK(d.value().severity == Severity::Medium);
  CHECK_THAT(dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{}})")).error(), Catch::Contains("non-empty"));
  CHECK_THAT(dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{"a":0}})")).error(), Catch::Contains("'info_types.a'"));
  CHECK_THAT(dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{"a":1},"channels":["email"]})")).error(),
             Catch::Contains("'channels[0]' 'email' is not a channel"));
  CHECK_THAT(dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{"a":1},"severity":"critical"})")).error(),
             Catch::Contains("'severity'"));
  CHECK_THAT(dlp_rule_from_json(json::parse(R"({"name":"x","info_types":{"a":1},"extra":1})")).error(),
             Catch::Contains("unknown field 'extra'"));
}
