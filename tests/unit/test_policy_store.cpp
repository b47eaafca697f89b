// SqlitePolicyStore (collector/policy/policy_store.h) on a real SQLite database, and the policy
// routes (api_policies.cpp) through ApiHandler::handle, the code the HTTPS server runs.
// Tag: [policy_store].
#include <catch2/catch.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "collector/api/api_handler.h"
#include "collector/policy/csv_import.h"
#include "collector/policy/policy_store.h"
#include "collector/policy/templates.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::collector::policy;
using namespace vigil::test;
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

Policy named(const std::string& name, Template t = Template::GeneralSecurityViolations) {
  Policy p = default_policy(t);
  p.name = name;
  return p;
}

}  // namespace

TEST_CASE("policies: ids, unique names, versions, persistence", "[policy_store]") {
  TempDir dir("vigil-policy-store");
  const std::string db = dir.file("vigil.db");
  std::string first_id;
  {
    auto store = must(SqlitePolicyStore::open(db));
    const auto g0 = store->generation();
    auto a = must(store->create_policy(named("A"), 1000));
    REQUIRE(a.outcome == WriteOutcome::Ok);
    CHECK(a.value.id == "p-1");
    CHECK(a.value.version == 1);
    CHECK(a.value.created_ns == 1000);
    CHECK(store->generation() == g0 + 1);
    first_id = a.value.id;
    CHECK(must(store->create_policy(named("A"), 1001)).outcome == WriteOutcome::NameTaken);
    CHECK(store->generation() == g0 + 1);
    auto b = must(store->create_policy(named("B", Template::DataTheftDepartingUsers), 1002));
    CHECK(b.value.id == "p-2");

    Policy upd = named("A renamed", Template::GeneralDataLeaks);
    upd.min_risk_threshold = 44;
    auto u = must(store->update_policy("p-1", upd, 2000));
    REQUIRE(u.outcome == WriteOutcome::Ok);
    CHECK(u.value.version == 2);
    CHECK(u.value.created_ns == 1000);
    CHECK(u.value.updated_ns == 2000);
    CHECK(must(store->update_policy("p-1", named("B"), 2001)).outcome == WriteOutcome::NameTaken);
    CHECK(must(store->update_policy("p-99", named("C"), 2001)).outcome == WriteOutcome::NotFound);
    CHECK(must(store->update_policy("nonsense", named("C"), 2001)).outcome == WriteOutcome::NotFound);

    CHECK(must(store->delete_policy("p-2")));
    CHECK_FALSE(must(store->delete_policy("p-2")));
    // Ids are never reused, even for the newest one deleted.
    CHECK(must(store->create_policy(named("C"), 3000)).value.id == "p-3");
  }
  auto store = must(SqlitePolicyStore::open(db));
  auto ps = store->policies();
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].id == first_id);
  CHECK(ps[0].name == "A renamed");
  CHECK(ps[0].tmpl == Template::GeneralDataLeaks);
  CHECK(ps[0].min_risk_threshold == 44);
  CHECK(ps[0].version == 2);
  CHECK(ps[0].indicators.size() == template_info(Template::GeneralDataLeaks).indicators.size());
  CHECK(must(store->create_policy(named("D"), 4000)).value.id == "p-4");
}

TEST_CASE("DLP rules: CRUD with unique names and stable ids", "[policy_store]") {
  TempDir dir("vigil-dlp-store");
  auto store = must(SqlitePolicyStore::open(dir.file("vigil.db")));
  DlpRule r;
  r.name = "cards";
  r.info_types = {{"credit_card", 3}};
  r.channels = {"removable"};
  r.severity = Severity::High;
  auto c = must(store->create_dlp_rule(r));
  CHECK(c.value.id == "d-1");
  CHECK(must(store->create_dlp_rule(r)).outcome == WriteOutcome::NameTaken);
  r.info_types["iban"] = 1;
  auto u = must(store->update_dlp_rule("d-1", r));
  CHECK(u.outcome == WriteOutcome::Ok);
  REQUIRE(store->dlp_rule("d-1").has_value());
  CHECK(store->dlp_rule("d-1")->info_types.size() == 2);
  CHECK(must(store->update_dlp_rule("d-7", r)).outcome == WriteOutcome::NotFound);
  CHECK(must(store->delete_dlp_rule("d-1")));
  CHECK(store->dlp_rules().empty());
}

TEST_CASE("readers see whole writes while writers run concurrently", "[policy_store]") {
  TempDir dir("vigil-policy-threads");
  auto store = must(SqlitePolicyStore::open(dir.file("vigil.db")));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done) {
      const auto g = store->generation();
      if (g < last) ++bad;
      last = g;
      // Each import writes 50 rows for one user: a reader sees all 50 or none.
      std::map<std::string, int> per_user;
      for (const auto& h : store->hr_records()) ++per_user[h.user];
      for (const auto& [u, n] : per_user)
        if (n != 50) ++bad;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < 10; ++i) {
        std::vector<HrRecord> rows;
        for (int k = 0; k < 50; ++k)
          rows.push_back(HrRecord{"u" + std::to_string(w) + "-" + std::to_string(i), HrEventKind::Demotion,
                                  std::int64_t{k} * 86400LL * 1000000000LL, "", "t"});
        REQUIRE(store->upsert_hr_records(rows).ok());
        REQUIRE(store->create_policy(named("p" + std::to_string(w) + "-" + std::to_string(i)), 1).ok());
      }
    });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(store->hr_records().size() == 3 * 10 * 50);
  CHECK(store->policies().size() == 30);
}

namespace {

constexpr const char* kToken = "policy-test-token-0123456789";

struct PolicyApi {
  TempDir dir{"vigil-policy-api"};
  std::unique_ptr<EventStore> events = must(open_sqlite_event_store(dir.file("vigil.db")));
  std::shared_ptr<SqlitePolicyStore> store = must(SqlitePolicyStore::open(dir.file("vigil.db")));
  ApiHandler handler{*events, crypto::sha256_hex(kToken), nullptr, store.get()};

  HttpResponse call(http::verb verb, const std::string& target, const std::string& body = "",
                    const std::string& content_type = "") {
    HttpRequest req{verb, target, 11};
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    return handler.handle(req);
  }
  static json::object body(const HttpResponse& r) { return json::parse(r.body()).as_object(); }
  static std::string error(const HttpResponse& r) { return std::string(body(r).at("error").as_string()); }
};

std::vector<std::string> warnings(const json::object& p) {
  std::vector<std::string> out;
  for (const auto& w : p.at("health").at("warnings").as_array()) out.emplace_back(w.as_string());
  return out;
}

}  // namespace

TEST_CASE("policy API: create, show, update, delete, validate, errors name the field", "[policy_store]") {
  PolicyApi api;
  auto created = api.call(http::verb::post, "/api/v1/policies",
                          R"({"name":"Departing","template":"data_theft_departing_users","users":["alice"]})");
  REQUIRE(created.result() == http::status::created);
  auto p = PolicyApi::body(created);
  CHECK(p.at("id").as_string() == "p-1");
  CHECK(p.at("version").to_number<std::uint64_t>() == 1);
  CHECK_FALSE(p.at("created").as_string().empty());
  REQUIRE(warnings(p).size() >= 1);
  CHECK_THAT(warnings(p)[0], Catch::Contains("no HR resignation data imported"));

  // Unknown field, wrong type, bad JSON: 400 naming the problem; nothing stored.
  auto r = api.call(http::verb::post, "/api/v1/policies", R"({"name":"X","template":"general_data_leaks","colour":1})");
  CHECK(r.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(r), Catch::Contains("unknown field 'colour'"));
  r = api.call(http::verb::post, "/api/v1/policies", R"({"name":"X","template":"general_data_leaks","min_risk_threshold":"high"})");
  CHECK(r.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(r), Catch::Contains("'min_risk_threshold' must be a number"));
  r = api.call(http::verb::post, "/api/v1/policies", R"({"name":"X",)");
  CHECK(r.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(r), Catch::Contains("not valid JSON"));
  r = api.call(http::verb::post, "/api/v1/policies", R"({"name":"Departing","template":"general_data_leaks"})");
  CHECK(r.result() == http::status::conflict);
  CHECK(api.store->policies().size() == 1);

  // Update: version grows; a PUT with a wrong field changes nothing.
  auto shown = PolicyApi::body(api.call(http::verb::get, "/api/v1/policies/p-1"));
  shown["min_risk_threshold"] = 5;
  auto put = api.call(http::verb::put, "/api/v1/policies/p-1", json::serialize(shown));
  REQUIRE(put.result() == http::status::ok);
  CHECK(PolicyApi::body(put).at("version").to_number<std::uint64_t>() == 2);
  shown["indicators"].as_object()["print.job"].as_object()["weight"] = "lots";
  put = api.call(http::verb::put, "/api/v1/policies/p-1", json::serialize(shown));
  CHECK(put.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(put), Catch::Contains("indicators.print.job.weight"));
  CHECK(api.store->policy("p-1")->version == 2);
  CHECK(api.call(http::verb::put, "/api/v1/policies/p-9",
                 R"({"name":"Z","template":"general_data_leaks"})").result() == http::status::not_found);
  CHECK(api.call(http::verb::patch, "/api/v1/policies/p-1").result() == http::status::method_not_allowed);
  CHECK(api.call(http::verb::get, "/api/v1/policies?x=1").result() == http::status::bad_request);

  // Validate: errors or health, never stored.
  auto v = PolicyApi::body(api.call(http::verb::post, "/api/v1/policies/validate",
                                    R"({"name":"New","template":"general_data_leaks"})"));
  CHECK(v.at("valid").as_bool());
  CHECK_THAT(std::string(v.at("health").at("warnings").at(0).as_string()), Catch::Contains("no enabled DLP rule"));
  v = PolicyApi::body(api.call(http::verb::post, "/api/v1/policies/validate", R"({"name":"New","template":"nope"})"));
  CHECK_FALSE(v.at("valid").as_bool());
  CHECK_THAT(std::string(v.at("errors").at(0).as_string()), Catch::Contains("'template' 'nope'"));
  v = PolicyApi::body(api.call(http::verb::post, "/api/v1/policies/validate", R"({"name":"Departing","template":"general_data_leaks"})"));
  CHECK_THAT(std::string(v.at("errors").at(0).as_string()), Catch::Contains("already exists (p-1)"));
  CHECK(api.store->policies().size() == 1);

  // Templates listed; delete.
  auto t = PolicyApi::body(api.call(http::verb::get, "/api/v1/templates"));
  CHECK(t.at("templates").as_array().size() == 8);
  CHECK(api.call(http::verb::delete_, "/api/v1/policies/p-1").result() == http::status::ok);
  CHECK(api.call(http::verb::get, "/api/v1/policies/p-1").result() == http::status::not_found);
}

TEST_CASE("HR and attributes import through the API; health follows", "[policy_store]") {
  PolicyApi api;
  REQUIRE(api.call(http::verb::post, "/api/v1/policies", R"({"name":"D","template":"data_theft_departing_users"})").result() ==
          http::status::created);
  const std::string csv = "user,event,date,detail\nalice,resignation,2026-11-01,\"a, b\"\nbob,quit,2026-11-01,\n";
  auto r = api.call(http::verb::post, "/api/v1/hr/import?source=hr.csv", csv, "text/csv");
  REQUIRE(r.result() == http::status::ok);
  auto b = PolicyApi::body(r);
  CHECK(b.at("imported").to_number<std::uint64_t>() == 1);
  CHECK(b.at("rejected").to_number<std::uint64_t>() == 1);
  CHECK(b.at("errors").at(0).at("line").to_number<std::uint64_t>() == 3);
  CHECK(warnings(PolicyApi::body(api.call(http::verb::get, "/api/v1/policies/p-1"))).empty());
  auto again = PolicyApi::body(api.call(http::verb::post, "/api/v1/hr/import", csv, "text/csv"));
  CHECK(again.at("unchanged").to_number<std::uint64_t>() == 1);
  CHECK(again.at("imported").to_number<std::uint64_t>() == 0);
  auto listed = PolicyApi::body(api.call(http::verb::get, "/api/v1/hr?user=alice"));
  REQUIRE(listed.at("count").to_number<std::uint64_t>() == 1);
  CHECK(listed.at("records").at(0).at("detail").as_string() == "a, b");
  CHECK(listed.at("records").at(0).at("date").as_string() == "2026-11-01");
  CHECK(listed.at("records").at(0).at("source").as_string() == "api:hr.csv:2");

  CHECK(api.call(http::verb::post, "/api/v1/hr/import", csv, "application/json").result() ==
        http::status::unsupported_media_type);
  r = api.call(http::verb::post, "/api/v1/hr/import", "who,what\n", "text/csv");
  CHECK(r.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(r), Catch::Contains("unknown column 'who'"));
  r = api.call(http::verb::post, "/api/v1/hr/import?replace=maybe", csv, "text/csv");
  CHECK(r.result() == http::status::bad_request);
  r = api.call(http::verb::post, "/api/v1/hr/import?replace=true", csv, "text/csv");
  CHECK(r.result() == http::status::bad_request);
  CHECK_FALSE(PolicyApi::body(r).at("applied").as_bool());
  r = api.call(http::verb::post, "/api/v1/hr/import", std::string(kMaxCsvBytes + 1, 'x'), "text/csv");
  CHECK(r.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(r), Catch::Contains("the limit is"));

  auto a = PolicyApi::body(api.call(http::verb::post, "/api/v1/users/attributes/import",
                                    "user,department,priority_groups\ncarol,Research,execs;board\n", "text/csv"));
  CHECK(a.at("imported").to_number<std::uint64_t>() == 1);
  auto users = PolicyApi::body(api.call(http::verb::get, "/api/v1/users/attributes"));
  CHECK(users.at("users").at(0).at("priority_groups").as_array().size() == 2);
  // Routes under /api/v1/users that are not ours fall through to 404.
  CHECK(api.call(http::verb::get, "/api/v1/users/nobody").result() == http::status::not_found);
}

TEST_CASE("DLP rule API", "[policy_store]") {
  PolicyApi api;
  auto c = api.call(http::verb::post, "/api/v1/dlp-rules",
                    R"({"name":"cards","info_types":{"credit_card":5},"channels":["removable"],"severity":"high"})");
  REQUIRE(c.result() == http::status::created);
  CHECK(PolicyApi::body(c).at("id").as_string() == "d-1");
  auto bad = api.call(http::verb::post, "/api/v1/dlp-rules", R"({"name":"x","info_types":{"a":1},"channel":["print"]})");
  CHECK(bad.result() == http::status::bad_request);
  CHECK_THAT(PolicyApi::error(bad), Catch::Contains("unknown field 'channel'"));
  auto u = api.call(http::verb::put, "/api/v1/dlp-rules/d-1", R"({"name":"cards","info_types":{"credit_card":9}})");
  REQUIRE(u.result() == http::status::ok);
  CHECK(PolicyApi::body(api.call(http::verb::get, "/api/v1/dlp-rules/d-1")).at("info_types").at("credit_card").to_number<std::int64_t>() == 9);
  CHECK(PolicyApi::body(api.call(http::verb::get, "/api/v1/dlp-rules")).at("count").to_number<std::uint64_t>() == 1);
  CHECK(api.call(http::verb::delete_, "/api/v1/dlp-rules/d-1").result() == http::status::ok);
  CHECK(api.call(http::verb::delete_, "/api/v1/dlp-rules/d-1").result() == http::status::not_found);
}
