// The API with accounts: login, 401 for expired/revoked tokens with a clear message, 403 by role,
// the last admin (409), throttling (429), population scope and pseudonyms on alerts and people.
#include <catch2/catch.hpp>
#include <set>

#include "collector/api/api_handler.h"
#include "collector/audit/audit_log.h"
#include "collector/auth/auth_service.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "policy_test_support.h"
#include "shared/crypto.h"
#include "shared/time_util.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::collector::auth;
using namespace vigil::test;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr const char* kAdminToken = "auth-api-bootstrap-token";

struct Reply {
  unsigned status;
  json::value body;
  std::string retry_after;
};

Reply call(const ApiHandler& h, http::verb verb, const std::string& target, const std::string& token,
           const std::string& body = {}) {
  HttpRequest req{verb, target, 11};
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  auto res = h.handle(req, "192.0.2.7");
  json::value v;
  boost::system::error_code ec;
  v = json::parse(res.body(), ec);
  return {res.result_int(), v, std::string(res[http::field::retry_after])};
}

std::string login(const ApiHandler& h, const std::string& user, const std::string& password) {
  auto r = call(h, http::verb::post, "/api/v1/session", "",
                json::serialize(json::object{{"user", user}, {"password", password}}));
  INFO(json::serialize(r.body));
  REQUIRE(r.status == 201);
  return std::string(r.body.at("token").as_string());
}

struct Fixture {
  TempDir tmp;
  std::unique_ptr<EventStore> events;
  std::shared_ptr<MemoryDirectory> dir = std::make_shared<MemoryDirectory>();
  std::unique_ptr<AccountStore> accounts;
  std::int64_t clock = now_ns();
  std::unique_ptr<AuthService> svc;
  std::unique_ptr<policy::PolicyEngine> engine;
  std::unique_ptr<ApiHandler> h;

  explicit Fixture(PrivacySettings privacy = {}) {
    events = must(open_sqlite_event_store(tmp.file("vigil.db")));
    accounts = must(AccountStore::open(tmp.file("auth.db")));
    svc = std::make_unique<AuthService>(*accounts, must(Pseudonymizer::from_key_file(tmp.file("pseudonym.key"))), dir.get(),
                                        privacy, [this] { return clock; });
    dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
    dir->add(UserAttributes{"mallory", "Sales", "EMEA", "", {}});
    dir->add(UserAttributes{"trent", "Engineering", "AMER", "", {}});
    engine = std::make_unique<policy::PolicyEngine>(dir);
    engine->on_events("dev-1", {tamper("mallory", clock - kHour), tamper("trent", clock - kHour)});
    h = std::make_unique<ApiHandler>(*events, crypto::sha256_hex(kAdminToken), nullptr, nullptr, engine.get());
    h->set_auth_service(svc.get());
  }

  void account(const std::string& name, std::vector<std::string> groups) {
    REQUIRE(must(accounts->add_account(name, must(hash_password("password for " + name)), groups, clock)).outcome ==
            Outcome::Ok);
  }
};

}  // namespace

TEST_CASE("auth API: login, whoami, logout; expired and revoked tokens are 401 with a reason", "[auth_api]") {
  Fixture f;
  f.account("ann", {"analysts"});
  auto bad = call(*f.h, http::verb::post, "/api/v1/session", "", R"({"user":"ann","password":"nope"})");
  CHECK(bad.status == 401);
  CHECK(call(*f.h, http::verb::post, "/api/v1/session", "", R"({"user":"ann"})").status == 400);
  auto unknown = call(*f.h, http::verb::post, "/api/v1/session", "", R"({"user":"ann","password":"x","remember":true})");
  CHECK(unknown.status == 400);
  CHECK(std::string(unknown.body.at("error").as_string()).find("remember") != std::string::npos);

  const auto token = login(*f.h, "ann", "password for ann");
  auto me = call(*f.h, http::verb::get, "/api/v1/whoami", token);
  REQUIRE(me.status == 200);
  CHECK(me.body.at("name").as_string() == "ann");
  CHECK(me.body.at("groups").at(0).as_string() == "analysts");
  CHECK(me.body.at("reveal_names").as_bool() == false);

  // 403 names the permission; no credentials is 401.
  auto denied = call(*f.h, http::verb::get, "/api/v1/accounts", token);
  CHECK(denied.status == 403);
  CHECK(std::string(denied.body.at("error").as_string()).find("manage_accounts") != std::string::npos);
  CHECK(call(*f.h, http::verb::get, "/api/v1/whoami", "").status == 401);

  // Session tokens expire: the 401 says so.
  f.clock += kSessionTtlNs + 1;
  auto expired = call(*f.h, http::verb::get, "/api/v1/whoami", token);
  CHECK(expired.status == 401);
  CHECK(std::string(expired.body.at("error").as_string()).find("expired") != std::string::npos);

  const auto again = login(*f.h, "ann", "password for ann");
  CHECK(call(*f.h, http::verb::delete_, "/api/v1/session", again).status == 200);
  auto revoked = call(*f.h, http::verb::get, "/api/v1/whoami", again);
  CHECK(revoked.status == 401);
  CHECK(std::string(revoked.body.at("error").as_string()).find("revoked") != std::string::npos);
}

TEST_CASE("auth API: accounts, role groups, tokens and the last admin", "[auth_api]") {
  Fixture f;
  // The bootstrap token creates the first admin.
  auto made = call(*f.h, http::verb::post, "/api/v1/accounts", kAdminToken,
                   R"({"name":"root","password":"root password!","groups":["admin"]})");
  REQUIRE(made.status == 201);
  CHECK(call(*f.h, http::verb::post, "/api/v1/accounts", kAdminToken, R"({"name":"root","password":"root password!"})").status ==
        409);
  CHECK(call(*f.h, http::verb::post, "/api/v1/accounts", kAdminToken, R"({"name":"x y","password":"root password!"})").status ==
        400);
  CHECK(call(*f.h, http::verb::post, "/api/v1/accounts", kAdminToken, R"({"name":"short","password":"short"})").status == 400);
  const auto root = login(*f.h, "root", "root password!");
  CHECK(call(*f.h, http::verb::get, "/api/v1/accounts", root).body.at("count").as_int64() == 1);

  // A custom, scoped group.
  auto g = call(*f.h, http::verb::post, "/api/v1/role-groups", root,
                R"({"name":"emea","roles":["analyst","name_reveal"],"scope":{"attribute":"region","values":["EMEA"]}})");
  REQUIRE(g.status == 201);
  CHECK(call(*f.h, http::verb::post, "/api/v1/role-groups", root, R"({"name":"bad","roles":["wizard"]})").status == 400);
  CHECK(call(*f.h, http::verb::post, "/api/v1/role-groups", root,
             R"({"name":"bad","roles":["viewer"],"scope":{"attribute":"shoe_size","values":["9"]}})")
            .status == 400);
  CHECK(call(*f.h, http::verb::put, "/api/v1/role-groups/viewers", root, R"({"roles":["admin"]})").status == 409);
  CHECK(call(*f.h, http::verb::post, "/api/v1/accounts", root, R"({"name":"eve","password":"eve password!"})").status == 201);
  CHECK(call(*f.h, http::verb::post, "/api/v1/role-groups/emea/members", root, R"({"account":"eve"})").status == 201);
  CHECK(call(*f.h, http::verb::post, "/api/v1/role-groups/emea/members", root, R"({"account":"ghost"})").status == 404);
  auto shown = call(*f.h, http::verb::get, "/api/v1/role-groups/emea", root);
  CHECK(shown.body.at("members").at(0).as_string() == "eve");

  // The last admin: 409.
  auto last = call(*f.h, http::verb::delete_, "/api/v1/accounts/root", root);
  CHECK(last.status == 409);
  CHECK(call(*f.h, http::verb::put, "/api/v1/accounts/root", root, R"({"disabled":true})").status == 409);
  CHECK(call(*f.h, http::verb::delete_, "/api/v1/role-groups/admin/members/root", root).status == 409);

  // Tokens: one's own, created and revoked; others' need manage_accounts.
  const auto eve = login(*f.h, "eve", "eve password!");
  auto t = call(*f.h, http::verb::post, "/api/v1/tokens", eve, R"({"label":"script","ttl":"7d"})");
  REQUIRE(t.status == 201);
  CHECK(call(*f.h, http::verb::get, "/api/v1/whoami", std::string(t.body.at("token").as_string())).status == 200);
  CHECK(call(*f.h, http::verb::get, "/api/v1/tokens", eve).body.at("count").as_int64() == 2);
  CHECK(call(*f.h, http::verb::get, "/api/v1/tokens?account=root", eve).status == 403);
  CHECK(call(*f.h, http::verb::post, "/api/v1/tokens", eve, R"({"ttl":"400d"})").status == 400);
  CHECK(call(*f.h, http::verb::get, "/api/v1/tokens?all=true", root).body.at("count").as_int64() == 3);
  const std::string id(t.body.at("id").as_string());
  CHECK(call(*f.h, http::verb::delete_, "/api/v1/tokens/" + id, eve).status == 200);
  CHECK(call(*f.h, http::verb::get, "/api/v1/whoami", std::string(t.body.at("token").as_string())).status == 401);
  CHECK(call(*f.h, http::verb::get, "/api/v1/roles", eve).body.at("roles").as_array().size() >= 7);
}

TEST_CASE("auth API: population scope and pseudonyms on alerts and user attributes", "[auth_api]") {
  Fixture f;
  f.account("all", {"analysts"});
  RoleGroup g{"emea", "", {"analyst"}, {"region", {"EMEA"}}, false, {}};
  REQUIRE(must(f.accounts->create_group(g)).outcome == Outcome::Ok);
  RoleGroup r{"revealers", "", {"analyst", "name_reveal"}, {}, false, {}};
  REQUIRE(must(f.accounts->create_group(r)).outcome == Outcome::Ok);
  f.account("emea-only", {"emea"});
  f.account("named", {"revealers"});
  const auto all = login(*f.h, "all", "password for all");
  const auto emea = login(*f.h, "emea-only", "password for emea-only");
  const auto named = login(*f.h, "named", "password for named");

  auto every = call(*f.h, http::verb::get, "/api/v1/alerts", all);
  REQUIRE(every.status == 200);
  REQUIRE(every.body.at("count").as_int64() == 2);
  const auto p_mallory = f.svc->pseudonyms().pseudonym("mallory");
  for (const auto& a : every.body.at("alerts").as_array()) {
    const std::string u(a.at("user").as_string());
    CHECK(Pseudonymizer::looks_like_pseudonym(u));
  }
  // The filter takes the pseudonym the caller sees, never the real name.
  CHECK(call(*f.h, http::verb::get, "/api/v1/alerts?user=" + p_mallory, all).body.at("count").as_int64() == 1);
  CHECK(call(*f.h, http::verb::get, "/api/v1/alerts?user=mallory", all).body.at("count").as_int64() == 0);

  // The scoped caller sees only EMEA (mallory); trent's alert is a 404 to it.
  auto scoped = call(*f.h, http::verb::get, "/api/v1/alerts", emea);
  REQUIRE(scoped.body.at("count").as_int64() == 1);
  CHECK(scoped.body.at("alerts").at(0).at("user").as_string() == p_mallory);
  std::string trent_alert;
  for (const auto& a : every.body.at("alerts").as_array())
    if (a.at("user").as_string() != p_mallory) trent_alert = std::string(a.at("id").as_string());
  REQUIRE_FALSE(trent_alert.empty());
  CHECK(call(*f.h, http::verb::get, "/api/v1/alerts/" + trent_alert, all).status == 200);
  CHECK(call(*f.h, http::verb::get, "/api/v1/alerts/" + trent_alert, emea).status == 404);
  CHECK(call(*f.h, http::verb::get, "/api/v1/users/in-scope", emea).body.at("count").as_int64() <=
        call(*f.h, http::verb::get, "/api/v1/users/in-scope", all).body.at("count").as_int64());

  // reveal_names shows real names and takes them as filters.
  auto revealed = call(*f.h, http::verb::get, "/api/v1/alerts?user=mallory", named);
  REQUIRE(revealed.body.at("count").as_int64() == 1);
  CHECK(revealed.body.at("alerts").at(0).at("user").as_string() == "mallory");

  // The bootstrap token holds reveal_names: real names.
  auto boot = call(*f.h, http::verb::get, "/api/v1/alerts?user=trent", kAdminToken);
  CHECK(boot.body.at("count").as_int64() == 1);
}

TEST_CASE("auth API: reveal_names = never shows pseudonyms to everyone; throttled login is 429", "[auth_api]") {
  Fixture f(PrivacySettings{false});
  RoleGroup r{"revealers", "", {"analyst", "name_reveal"}, {}, false, {}};
  REQUIRE(must(f.accounts->create_group(r)).outcome == Outcome::Ok);
  f.account("named", {"revealers"});
  const auto named = login(*f.h, "named", "password for named");
  auto list = call(*f.h, http::verb::get, "/api/v1/alerts", named);
  for (const auto& a : list.body.at("alerts").as_array())
    CHECK(Pseudonymizer::looks_like_pseudonym(a.at("user").as_string()));
  auto boot = call(*f.h, http::verb::get, "/api/v1/alerts", kAdminToken);
  for (const auto& a : boot.body.at("alerts").as_array())
    CHECK(Pseudonymizer::looks_like_pseudonym(a.at("user").as_string()));

  for (int i = 0; i < kMaxLoginFailures; ++i)
    CHECK(call(*f.h, http::verb::post, "/api/v1/session", "", R"({"user":"named","password":"wrong password"})").status == 401);
  auto t = call(*f.h, http::verb::post, "/api/v1/session", "", R"({"user":"named","password":"password for named"})");
  CHECK(t.status == 429);
  CHECK_FALSE(t.retry_after.empty());
}

TEST_CASE("auth API: events through population scope and pseudonymous user filters", "[auth_api]") {
  Fixture f;
  // 30 events of trent (AMER) after 10 of mallory (EMEA): a scoped caller's page must reach back
  // past trent's to find mallory's.
  v1::EventBatch b;
  b.set_schema_version(1);
  b.set_device_id("dev-1");
  std::vector<v1::Event> evs;
  auto write = [](const std::string& user, const std::string& path, std::int64_t t) {
    auto e = base(user, "file.write", t);
    e.mutable_file()->set_path(path);
    e.mutable_file()->set_source_path(path);
    return e;
  };
  for (int i = 0; i < 10; ++i) evs.push_back(write("mallory", "/home/mallory/doc" + std::to_string(i), f.clock - 2 * kHour + i * kSec));
  for (int i = 0; i < 30; ++i) evs.push_back(write("trent", "/home/trent/x" + std::to_string(i), f.clock - kHour + i * kSec));
  std::uint64_t seq = 1;
  for (auto& e : evs) {
    e.set_seq(seq++);
    *b.add_events() = e;
  }
  b.set_first_seq(1);
  b.set_last_seq(seq - 1);
  const std::string payload = encode_batch(b);
  IncomingBatch in{"dev-1", &b, payload};
  REQUIRE(must(f.events->append_batches(std::span<const IncomingBatch>(&in, 1), f.clock))[0].outcome == AppendOutcome::Stored);

  RoleGroup g{"emea-inv", "", {"investigator"}, {"region", {"EMEA"}}, false, {}};
  REQUIRE(must(f.accounts->create_group(g)).outcome == Outcome::Ok);
  f.account("inv", {"investigators"});
  f.account("emea", {"emea-inv"});
  const auto inv = login(*f.h, "inv", "password for inv");
  const auto emea = login(*f.h, "emea", "password for emea");
  const auto p_mallory = f.svc->pseudonyms().pseudonym("mallory");

  auto all = call(*f.h, http::verb::get, "/api/v1/events?limit=100", inv);
  REQUIRE(all.status == 200);
  CHECK(all.body.at("count").as_int64() == 40);
  for (const auto& e : all.body.at("events").as_array()) {
    CHECK(Pseudonymizer::looks_like_pseudonym(e.at("user").as_string()));
    const std::string text = json::serialize(e);
    CHECK(text.find("mallory") == std::string::npos);
    CHECK(text.find("trent") == std::string::npos);
  }
  auto by_pseudonym = call(*f.h, http::verb::get, "/api/v1/events?limit=5&user=" + p_mallory, inv);
  REQUIRE(by_pseudonym.body.at("count").as_int64() == 5);
  CHECK(by_pseudonym.body.at("events").at(0).at("path").as_string().find("/home/" + p_mallory + "/doc") == 0);
  CHECK(call(*f.h, http::verb::get, "/api/v1/events?user=mallory", inv).body.at("count").as_int64() == 0);

  auto scoped = call(*f.h, http::verb::get, "/api/v1/events?limit=5", emea);
  REQUIRE(scoped.body.at("count").as_int64() == 5);
  for (const auto& e : scoped.body.at("events").as_array()) CHECK(e.at("user").as_string() == p_mallory);
  // The most recent five of mallory's, oldest first.
  CHECK(scoped.body.at("events").at(4).at("path").as_string() == "/home/" + p_mallory + "/doc9");
  CHECK(call(*f.h, http::verb::get, "/api/v1/events?limit=100", emea).body.at("count").as_int64() == 10);
}

TEST_CASE("auth API: population scope is per permission, an unscoped group does not widen a scoped one", "[auth_api]") {
  Fixture f;
  // Analysts scoped to Sales (mallory) and the unscoped built-in Auditors.
  RoleGroup sales{"sales-analysts", "", {"analyst"}, {"department", {"Sales"}}, false, {}};
  REQUIRE(must(f.accounts->create_group(sales)).outcome == Outcome::Ok);
  // Viewers of AMER (trent): read_alerts comes from both scoped groups, triage_alerts only from Sales.
  RoleGroup amer{"amer-viewers", "", {"viewer"}, {"region", {"AMER"}}, false, {}};
  REQUIRE(must(f.accounts->create_group(amer)).outcome == Outcome::Ok);
  f.account("mixed", {"sales-analysts", "auditors"});
  f.account("two-scopes", {"sales-analysts", "amer-viewers"});
  f.account("wide", {"sales-analysts", "analysts"});

  auto mixed = must(f.svc->authenticate_token(login(*f.h, "mixed", "password for mixed")));
  CHECK(mixed.may(Permission::ReadAudit));
  CHECK(mixed.may_see_user("mallory", Permission::TriageAlerts));
  CHECK_FALSE(mixed.may_see_user("trent", Permission::TriageAlerts));
  CHECK_FALSE(mixed.may_see_user("trent", Permission::ReadAlerts));
  CHECK(mixed.may_see_user("trent", Permission::ReadAudit));
  CHECK(mixed.may_see_user("someone-without-attributes", Permission::ReadAudit));
  CHECK_FALSE(mixed.may_see_user("trent", Permission::ManageAccounts));  // not held: nobody
  CHECK_FALSE(mixed.may_see_user("trent"));  // before a route names its permission: the narrowest
  CHECK(mixed.scoped_for(Permission::ReadAlerts));
  CHECK_FALSE(mixed.scoped_for(Permission::ReadAudit));
  mixed.act_as(Permission::ReadAudit);
  CHECK(mixed.may_see_user("trent"));
  mixed.act_as(Permission::ReadAlerts);
  CHECK_FALSE(mixed.may_see_user("trent"));
  CHECK(mixed.may_see_user("mallory"));

  auto two = must(f.svc->authenticate_token(login(*f.h, "two-scopes", "password for two-scopes")));
  CHECK(two.may_see_user("trent", Permission::ReadAlerts));  // the union of the groups granting it
  CHECK(two.may_see_user("mallory", Permission::ReadAlerts));
  CHECK_FALSE(two.may_see_user("trent", Permission::TriageAlerts));
  CHECK(two.may_see_user("mallory", Permission::TriageAlerts));

  auto wide = must(f.svc->authenticate_token(login(*f.h, "wide", "password for wide")));
  CHECK(wide.may_see_user("trent", Permission::TriageAlerts));  // an unscoped group granting it
  CHECK_FALSE(wide.scoped_for(Permission::ReadAlerts));

  // Over the API: the alerts routes show Sales only; whoami says which permissions are scoped.
  const auto token = login(*f.h, "mixed", "password for mixed");
  auto alerts = call(*f.h, http::verb::get, "/api/v1/alerts", token);
  REQUIRE(alerts.status == 200);
  REQUIRE(alerts.body.at("count").as_int64() == 1);
  CHECK(alerts.body.at("alerts").at(0).at("user").as_string() == f.svc->pseudonyms().pseudonym("mallory"));
  auto who = call(*f.h, http::verb::get, "/api/v1/whoami", token);
  REQUIRE(who.status == 200);
  CHECK(who.body.at("scoped").as_bool());
  std::set<std::string> scoped;
  for (const auto& p : who.body.at("scoped_permissions").as_array()) scoped.insert(std::string(p.as_string()));
  CHECK(scoped.count("triage_alerts") == 1);
  CHECK(scoped.count("read_alerts") == 1);
  CHECK(scoped.count("read_audit") == 0);
  CHECK(scoped.count("read_health") == 0);  // auditors grant it unscoped
  // The unscoped group alone: whoami says unscoped.
  f.account("just-auditor", {"auditors"});
  auto plain = call(*f.h, http::verb::get, "/api/v1/whoami", login(*f.h, "just-auditor", "password for just-auditor"));
  CHECK_FALSE(plain.body.at("scoped").as_bool());
}

TEST_CASE("auth API: no real name in any answer for a pseudonymised caller, free text included", "[auth_api][privacy]") {
  Fixture f;
  f.dir->add(make_policy("p-departing", Template::DataTheftDepartingUsers, 1));
  f.dir->add(HrRecord{"mallory", HrEventKind::Resignation, f.clock - 3 * 86400 * kSec,
                      "mallory resigned; trent (her manager) asked mallory to hand over", "hr.csv:2"});
  f.dir->add(UserAttributes{"mallory", "Sales", "EMEA", "trent", {}, "mallory@corp.example"});
  auto copy = exfil("mallory", "/home/mallory/trent-and-mallory-plans.docx", f.clock - kHour);
  f.engine->on_events("dev-1", {copy});
  f.account("ana", {"analysts"});
  RoleGroup r{"revealers", "", {"analyst", "name_reveal"}, {}, false, {}};
  REQUIRE(must(f.accounts->create_group(r)).outcome == Outcome::Ok);
  f.account("named", {"revealers"});
  const auto ana = login(*f.h, "ana", "password for ana");
  const auto named = login(*f.h, "named", "password for named");

  std::vector<std::string> alert_ids;
  auto list = call(*f.h, http::verb::get, "/api/v1/alerts", ana);
  REQUIRE(list.status == 200);
  for (const auto& a : list.body.at("alerts").as_array()) alert_ids.emplace_back(a.at("id").as_string());
  REQUIRE(alert_ids.size() >= 2);
  // (/hr and /users/attributes need the SQLite policy store; the integration test reads them.)
  std::vector<std::pair<std::string, std::string>> gets{{"/api/v1/alerts", ana}, {"/api/v1/users/in-scope", ana}};
  for (const auto& id : alert_ids) gets.emplace_back("/api/v1/alerts/" + id, ana);
  bool departing_seen = false;
  for (const auto& [target, token] : gets) {
    auto r = call(*f.h, http::verb::get, target, token);
    INFO(target << " -> " << json::serialize(r.body));
    REQUIRE(r.status == 200);
    const std::string text = json::serialize(r.body);
    CHECK(text.find("mallory") == std::string::npos);
    CHECK(text.find("trent") == std::string::npos);
    departing_seen = departing_seen || text.find("hand over") != std::string::npos;
  }
  CHECK(departing_seen);  // the HR detail really is in the answers, with its names replaced
  const auto p_mallory = f.svc->pseudonyms().pseudonym("mallory");
  const auto p_trent = f.svc->pseudonyms().pseudonym("trent");
  std::string detail;
  for (const auto& id : alert_ids) {
    auto a = call(*f.h, http::verb::get, "/api/v1/alerts/" + id, ana);
    if (a.body.at("policy_id").as_string() == "p-departing") detail = std::string(a.body.at("trigger").at("detail").as_string());
  }
  CHECK(detail == "resignation: " + p_mallory + " resigned; " + p_trent + " (her manager) asked " + p_mallory + " to hand over");

  // Shown real names, the same answers keep them (and the test data does hold them).
  std::string revealed;
  for (const auto& id : alert_ids) revealed += json::serialize(call(*f.h, http::verb::get, "/api/v1/alerts/" + id, named).body);
  CHECK(revealed.find("mallory resigned; trent") != std::string::npos);
  CHECK(revealed.find("trent-and-mallory-plans.docx") != std::string::npos);
}

TEST_CASE("auth: a user filter resolves through the pseudonym cache, up front", "[auth_api][privacy]") {
  Fixture f;
  f.account("ana", {"analysts"});
  RoleGroup r{"revealers", "", {"analyst", "name_reveal"}, {}, false, {}};
  REQUIRE(must(f.accounts->create_group(r)).outcome == Outcome::Ok);
  f.account("named", {"revealers"});
  auto ana = must(f.svc->authenticate_token(login(*f.h, "ana", "password for ana")));
  auto named = must(f.svc->authenticate_token(login(*f.h, "named", "password for named")));
  const std::vector<std::string> users{"alice", "bob", "mallory", "trent"};
  const auto p_bob = f.svc->pseudonyms().pseudonym("bob");
  CHECK(ana.users_named(p_bob, users) == std::vector<std::string>{"bob"});
  CHECK(ana.users_named("bob", users).empty());  // a real name under pseudonyms matches nothing
  CHECK(ana.users_named(f.svc->pseudonyms().pseudonym("carol"), users).empty());  // not a candidate
  CHECK(named.users_named("bob", users) == std::vector<std::string>{"bob"});
  CHECK(named.users_named(p_bob, users) == std::vector<std::string>{"bob"});
  // The same answers as checking each user, from the cache on the second call too.
  for (int round = 0; round < 2; ++round)
    for (const auto& u : users) {
      const auto p = f.svc->pseudonyms().pseudonym(u);
      CHECK(ana.users_named(p, users) == std::vector<std::string>{u});
      CHECK(ana.shown_user(u) == p);
    }
}

TEST_CASE("auth API: an auditor shown pseudonyms reads pseudonyms in the audit log too", "[auth_api][privacy]") {
  Fixture f;
  auto log = must(audit::AuditLog::open(f.tmp.path.string()));
  f.h->set_audit_sink(log.get());
  f.h->set_audit_log(log.get());
  RoleGroup r{"revealers", "", {"analyst", "name_reveal"}, {}, false, {}};
  REQUIRE(must(f.accounts->create_group(r)).outcome == Outcome::Ok);
  f.account("named", {"revealers"});
  f.account("aud", {"auditors"});
  // A reveal (target: the real user) and an export whose filter names users (in the detail).
  REQUIRE(call(*f.h, http::verb::get, "/api/v1/alerts", login(*f.h, "named", "password for named")).status == 200);
  Caller investigator;
  investigator.name = "inv";
  REQUIRE(f.h->audit(investigator, "export", "activity-1.csv", 200, "user=mallory&path=/home/trent/*").ok());
  const std::string p_mallory = f.svc->pseudonyms().pseudonym("mallory");

  auto seen = call(*f.h, http::verb::get, "/api/v1/audit?limit=1000", login(*f.h, "aud", "password for aud"));
  REQUIRE(seen.status == 200);
  const std::string text = json::serialize(seen.body);
  INFO(text);
  CHECK(text.find("\"reveal_names\"") != std::string::npos);  // the reveal is there
  CHECK(text.find(p_mallory) != std::string::npos);           // under the pseudonym
  CHECK(text.find("mallory") == std::string::npos);
  CHECK(text.find("trent") == std::string::npos);
  // The bootstrap admin token is shown real names: the same records name mallory.
  auto admin = call(*f.h, http::verb::get, "/api/v1/audit?limit=1000", kAdminToken);
  REQUIRE(admin.status == 200);
  CHECK(json::serialize(admin.body).find("\"target\":\"mallory\"") != std::string::npos);
  auto verify = call(*f.h, http::verb::get, "/api/v1/audit/verify", login(*f.h, "aud", "password for aud"));
  REQUIRE(verify.status == 200);
  CHECK(verify.body.at("ok").as_bool());
}
