// AlertStore: the policy engine's alerts, scopes and daily counts survive a restart (real SQLite
// file), and grouping continues across it.
#include <catch2/catch.hpp>

#include "collector/policy/alert_store.h"
#include "collector/policy/engine.h"
#include "policy_test_support.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::test;

TEST_CASE("alerts, scopes and baselines survive a restart; the open alert keeps being updated", "[policy_alert_store]") {
  TempDir tmp;
  const std::string db = tmp.file("collector.db");
  auto dir = std::make_shared<MemoryDirectory>();
  dir->add(make_policy("p-1", Template::DataTheftDepartingUsers, 20));
  dir->add(make_policy("p-leak", Template::GeneralDataLeaks, 1000));
  dir->add(DlpRule{"r-1", "cards", {{"credit_card", 1}}, {"removable"}, Severity::High, true});
  dir->add(HrRecord{"alice", HrEventKind::Resignation, kDay0, "", "hr.csv:2"});
  const std::int64_t t = kDay0 + kDay + 10 * kHour;
  std::string id;
  double score = 0;
  {
    auto store = AlertStore::open(db);
    REQUIRE(store);
    PolicyEngine engine(dir, {}, store->get());
    REQUIRE(engine.load());
    std::vector<v1::Event> history;
    for (int d = 10; d >= 1; --d) history.push_back(exfil("alice", "/h/x", kDay0 - d * kDay + 10 * kHour));
    engine.prime_history(history);
    engine.on_events("dev-1", {exfil("alice", "/h/a", t), exfil("alice", "/h/b", t + kSec),
                               exfil("gina", "/h/cards", t, 100, "exfil.removable", {{"credit_card", 2}})});
    auto a = engine.alerts();
    REQUIRE(a.size() == 1);
    id = a[0].id;
    score = a[0].score;
  }
  auto store = AlertStore::open(db);
  REQUIRE(store);
  PolicyEngine engine(dir, {}, store->get());
  REQUIRE(engine.load());
  auto a = engine.alerts();
  REQUIRE(a.size() == 1);
  CHECK(a[0].id == id);
  CHECK(a[0].score == Approx(score));
  CHECK(a[0].activities.size() == 2);
  CHECK_FALSE(a[0].activities[0].reasons.empty());
  CHECK(a[0].activities[0].reasons[0].first == "base weight of exfil.removable");
  auto scope = engine.users_in_scope(t);
  REQUIRE(scope.size() == 2);  // alice (HR) and gina (a DLP trigger: only in the restored state)
  bool gina = false;
  for (const auto& s : scope) gina |= s.user == "gina" && s.trigger.kind == "dlp.high" && s.policy_id == "p-leak";
  CHECK(gina);

  // Baselines were restored: alice copied one file a day for 10 of the last 11 days, so 3 today is above it.
  engine.on_events("dev-1", {exfil("alice", "/h/c", t + kHour)});
  auto b = engine.alerts();
  REQUIRE(b.size() == 1);
  CHECK(b[0].id == id);
  CHECK(b[0].activities.size() == 3);
  bool above = false;
  for (const auto& r : b[0].activities.back().reasons) above |= r.first.rfind("above the user's baseline (3.0 today vs 0.9/day over 11 days)", 0) == 0;
  CHECK(above);

  // A new alert after the restart does not reuse an id.
  dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
  engine.on_events("dev-1", {tamper("mallory", t)});
  AlertFilter f;
  f.user = "mallory";
  auto m = engine.alerts(f);
  REQUIRE(m.size() == 1);
  CHECK(m[0].id != id);
}
