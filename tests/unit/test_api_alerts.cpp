// API routes of the policy engine through ApiHandler: alerts (filters, one alert with its
// explained activities), users in scope, analytics with minimum group size, input errors.
#include <catch2/catch.hpp>

#include "collector/api/api_handler.h"
#include "collector/store/sqlite_event_store.h"
#include "policy_test_support.h"
#include "shared/crypto.h"
#include "shared/time_util.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr const char* kToken = "alerts-test-token";

struct Answer {
  unsigned status;
  json::value body;
};

Answer get(const ApiHandler& h, const std::string& target) {
  HttpRequest req{http::verb::get, target, 11};
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  auto res = h.handle(req);
  return {res.result_int(), json::parse(res.body())};
}

}  // namespace

TEST_CASE("API: alerts, one alert with reasons, users in scope, analytics", "[api_alerts]") {
  TempDir tmp;
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store);
  auto dir = std::make_shared<MemoryDirectory>();
  dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
  dir->add(make_policy("p-dep", Template::DataTheftDepartingUsers, 10));
  const std::int64_t now = now_ns();
  dir->add(HrRecord{"alice", HrEventKind::Resignation, now - 2 * kDay, "", "hr.csv:2"});
  policy::PolicyEngine engine(dir);
  ApiHandler h(**store, crypto::sha256_hex(kToken), nullptr, nullptr, &engine);

  std::vector<v1::Event> events{tamper("mallory", now - kHour), exfil("alice", "/h/a", now - kHour)};
  // Seven users with ordinary prints (analytics needs at least five active users).
  for (int i = 0; i < 7; ++i) {
    auto p = base("u" + std::to_string(i), "print.job", now - 2 * kHour);
    p.mutable_print()->set_printer("office");
    events.push_back(p);
  }
  engine.on_events("dev-1", events);

  auto all = get(h, "/api/v1/alerts");
  REQUIRE(all.status == 200);
  CHECK(all.body.at("count").as_int64() == 2);
  auto mine = get(h, "/api/v1/alerts?user=mallory&status=needs_review&since=1h");
  REQUIRE(mine.status == 200);
  REQUIRE(mine.body.at("count").as_int64() == 1);
  const auto& a = mine.body.at("alerts").at(0).as_object();
  CHECK(a.at("policy_id").as_string() == "p-gsec");
  CHECK(a.at("trigger").at("kind").as_string() == "security.violation");
  CHECK_FALSE(a.contains("activities"));
  CHECK(get(h, "/api/v1/alerts?policy=p-none").body.at("count").as_int64() == 0);
  // Severity depends on the hour this runs (after-hours boost), so filter by what it is.
  const std::string sev(a.at("severity").as_string());
  CHECK(get(h, "/api/v1/alerts?user=mallory&severity=" + sev).body.at("count").as_int64() == 1);
  CHECK(get(h, "/api/v1/alerts?user=mallory&severity=" + std::string(sev == "high" ? "low" : "high")).body.at("count").as_int64() == 0);
  CHECK(get(h, "/api/v1/alerts?user=mallory&until=2h").body.at("count").as_int64() == 0);

  auto one = get(h, "/api/v1/alerts/" + std::string(a.at("id").as_string()));
  REQUIRE(one.status == 200);
  const auto& acts = one.body.at("activities").as_array();
  REQUIRE(acts.size() == 1);
  CHECK(acts[0].at("indicator").as_string() == "agent.tamper");
  CHECK(acts[0].at("reasons").at(0).at("reason").as_string() == "base weight of agent.tamper");
  CHECK(acts[0].at("reasons").at(0).at("points").to_number<double>() == Approx(20));
  CHECK(get(h, "/api/v1/alerts/a-999").status == 404);

  auto scope = get(h, "/api/v1/users/in-scope");
  REQUIRE(scope.status == 200);
  CHECK(scope.body.at("count").as_int64() == 2);
  auto alice = get(h, "/api/v1/users/in-scope?user=alice");
  REQUIRE(alice.body.at("count").as_int64() == 1);
  CHECK(alice.body.at("users").at(0).at("days_left").as_int64() == 28);
  CHECK(alice.body.at("users").at(0).at("trigger").at("kind").as_string() == "hr.resignation");

  auto an = get(h, "/api/v1/analytics?days=7");
  REQUIRE(an.status == 200);
  CHECK(an.body.at("suppressed").as_bool() == false);
  CHECK(an.body.at("active_users").as_int64() == 9);
  // 7 of 9 printed (print.job counts as exfiltration) plus alice's copy: 8 of 9.
  CHECK(an.body.at("exfiltration_share").to_number<double>() == Approx(8.0 / 9));
  CHECK(an.body.at("security_share").is_null());  // one user: below the minimum group size
  const auto& top = an.body.at("top_indicators").as_array();
  REQUIRE(top.size() == 1);
  CHECK(top[0].at("indicator").as_string() == "print.job");

  // Input errors name the parameter.
  CHECK(get(h, "/api/v1/alerts?severity=urgent").status == 400);
  CHECK(get(h, "/api/v1/alerts?bogus=1").status == 400);
  CHECK(get(h, "/api/v1/analytics?days=0").status == 400);
  CHECK(get(h, "/api/v1/analytics?days=x").status == 400);
}

TEST_CASE("API: analytics are suppressed below the minimum group size; no engine answers 503", "[api_alerts]") {
  TempDir tmp;
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store);
  auto dir = std::make_shared<MemoryDirectory>();
  policy::PolicyEngine engine(dir);
  ApiHandler h(**store, crypto::sha256_hex(kToken), nullptr, nullptr, &engine);
  engine.on_events("dev-1", {tamper("a", now_ns()), tamper("b", now_ns())});
  auto an = get(h, "/api/v1/analytics?days=30");
  REQUIRE(an.status == 200);
  CHECK(an.body.at("suppressed").as_bool());
  CHECK(an.body.at("active_users").is_null());
  CHECK(an.body.at("top_indicators").as_array().empty());

  ApiHandler none(**store, crypto::sha256_hex(kToken));
  CHECK(get(none, "/api/v1/alerts").status == 503);
  CHECK(get(none, "/api/v1/alerts/a-1").status == 503);
}
