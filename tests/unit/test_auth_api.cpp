// The API with accounts: login, 401 for expired/revoked tokens with a clear message, 403 by role,
// the last admin (409), throttling (429), population scope and pseudonyms on alerts and people.
#include <catch2/catch.hpp>

#include "collector/api/api_handler.h"
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
