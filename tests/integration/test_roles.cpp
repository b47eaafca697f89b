// Roles through the real collector binary over TLS: an account in each built-in role group logs
// in (vigilctl login and the session route), then every row of ApiHandler::routes() is called
// with every group's token. Allowed/denied is computed from the role table (collector/auth/roles),
// so a new route is covered without touching this test: a permitted call is neither 401 nor 403,
// a refused one is 403, and without credentials every non-public route is 401. Also: the
// first admin created with `vigil-collector accounts add`, whoami, logout, and pseudonyms over
// the wire. Tag: [roles]. Needs curl.
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "collector/api/api_handler.h"
#include "collector/auth/roles.h"
#include "tests/integration/harness.h"

using namespace vigil::testing;
using namespace vigil::collector;
namespace json = boost::json;
namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

std::string curl_path() {
  for (const char* p : {"/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl"})
    if (fs::exists(p)) return p;
  return "";
}

struct Http {
  int status = 0;
  std::string body;
};

Http request(Deployment& d, const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "") {
  std::vector<std::string> argv{curl_path(), "-sS", "--cacert", d.ca(), "-X", method, "-w", "\n%{http_code}"};
  if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
  if (!body.empty()) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
  argv.push_back("https://127.0.0.1:" + std::to_string(d.api_port()) + path);
  auto r = run_command(argv);
  Http h;
  auto nl = r.out.rfind('\n');
  if (r.exit_code != 0 || nl == std::string::npos) {
    FAIL("curl failed: " + r.err);
    return h;
  }
  h.status = std::stoi(r.out.substr(nl + 1));
  h.body = r.out.substr(0, nl);
  return h;
}

// "/api/v1/role-groups/{name}/members/{account}" -> "/api/v1/role-groups/dummy-name/members/dummy-account"
std::string instantiate(std::string_view pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      auto end = pattern.find('}', i);
      out += "dummy-" + std::string(pattern.substr(i + 1, end - i - 1));
      i = end;
    } else {
      out.push_back(pattern[i]);
    }
  }
  return out;
}

std::string verb_of(const Route& r) { return std::string(http::to_string(r.method)); }

std::string login(Deployment& d, const std::string& user, const std::string& password) {
  auto r = request(d, "POST", "/api/v1/session", "", json::serialize(json::object{{"user", user}, {"password", password}}));
  INFO(r.body);
  REQUIRE(r.status == 201);
  return std::string(json::parse(r.body).at("token").as_string());
}

}  // namespace

TEST_CASE("every role group against every route: allowed, 403 or 401", "[roles]") {
  REQUIRE_FALSE(curl_path().empty());
  Deployment d("roles");

  // The first admin, before the collector runs (docs/ROLES.md: first admin).
  auto first = run_command({"/bin/sh", "-c",
                            "echo 'first admin password' | " + bin("vigil-collector") + " accounts add --data-dir " +
                                d.data_dir() + " root --admin --password-stdin"});
  INFO(first.out + first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(fs::exists(d.data_dir() + "/auth.db"));
  CHECK((fs::status(d.data_dir() + "/auth.db").permissions() & fs::perms::others_read) == fs::perms::none);
  d.start_collector();
  const std::string root = login(d, "root", "first admin password");

  // vigilctl login stores the token in its config (0600) and whoami uses it.
  const std::string cfg = d.dir() + "/vigilctl.toml";
  auto ctl_login = run_command({"/bin/sh", "-c",
                                "echo 'first admin password' | " + bin("vigilctl") + " --server https://127.0.0.1:" +
                                    std::to_string(d.api_port()) + " --ca " + d.ca() + " --config " + cfg +
                                    " login --user root --password-stdin"});
  INFO(ctl_login.out + ctl_login.err);
  REQUIRE(ctl_login.exit_code == 0);
  CHECK((fs::status(cfg).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  auto who = run_command({bin("vigilctl"), "--config", cfg, "whoami", "--json"});
  INFO(who.err);
  REQUIRE(who.exit_code == 0);
  CHECK(json::parse(who.out).at("name").as_string() == "root");
  auto roles_out = run_command({bin("vigilctl"), "--config", cfg, "role-groups", "list", "--json"});
  CHECK(std::count(roles_out.out.begin(), roles_out.out.end(), '\n') == 6);
  CHECK(run_command({bin("vigilctl"), "--config", cfg, "logout"}).exit_code == 0);
  CHECK(run_command({bin("vigilctl"), "--config", cfg, "whoami"}).exit_code != 0);

  // One account per built-in group.
  std::map<std::string, std::string> token_of;
  for (const auto& g : auth::builtin_groups()) {
    const std::string name = "m-" + std::string(g.name);
    auto made = request(d, "POST", "/api/v1/accounts", root,
                        json::serialize(json::object{{"name", name}, {"password", "password of " + name},
                                                     {"groups", json::array{json::string(g.name)}}}));
    INFO(made.body);
    REQUIRE(made.status == 201);
    token_of[std::string(g.name)] = login(d, name, "password of " + name);
  }

  std::size_t calls = 0;
  for (const auto& g : auth::builtin_groups()) {
    std::vector<std::string> role_names(g.roles.begin(), g.roles.end());
    const PermissionSet perms = auth::permissions_of(role_names);
    const std::string& token = token_of[std::string(g.name)];
    const Route* logout = nullptr;
    for (const auto& r : ApiHandler::routes()) {
      if (r.is_public) continue;
      if (r.method == http::verb::delete_ && r.pattern == "/api/v1/session") {
        logout = &r;  // last: it ends this token
        continue;
      }
      const std::string path = instantiate(r.pattern);
      const std::string body = r.method == http::verb::get ? "" : "{}";
      auto a = request(d, verb_of(r), path, token, body);
      ++calls;
      INFO(g.name << ": " << verb_of(r) << " " << path << " -> " << a.status << " " << a.body);
      if (perms.test(static_cast<std::size_t>(r.permission))) {
        CHECK(a.status != 401);
        CHECK(a.status != 403);
      } else {
        CHECK(a.status == 403);
      }
    }
    REQUIRE(logout);
    CHECK(request(d, "DELETE", "/api/v1/session", token).status == 200);
    auto after = request(d, "GET", "/api/v1/whoami", token);
    CHECK(after.status == 401);
    CHECK(after.body.find("revoked") != std::string::npos);
  }
  CHECK(calls > 6 * 40);

  // Without credentials every route but the login is 401; with a made-up token too.
  for (const auto& r : ApiHandler::routes()) {
    if (r.is_public) continue;
    INFO(verb_of(r) << " " << r.pattern);
    CHECK(request(d, verb_of(r), instantiate(r.pattern), "", r.method == http::verb::get ? "" : "{}").status == 401);
    CHECK(request(d, verb_of(r), instantiate(r.pattern), "vgl_madeup", r.method == http::verb::get ? "" : "{}").status == 401);
  }

  // The last admin stays; names are pseudonyms over the wire.
  CHECK(request(d, "DELETE", "/api/v1/accounts/m-admin", root).status == 200);
  CHECK(request(d, "DELETE", "/api/v1/accounts/m-insider_risk_management", root).status == 200);
  auto last = request(d, "DELETE", "/api/v1/accounts/root", root);
  CHECK(last.status == 409);
  CHECK(last.body.find("manage accounts") != std::string::npos);
  // An admin (read_people, no reveal_names) sees people data under pseudonyms.
  REQUIRE(request(d, "POST", "/api/v1/accounts", root, R"({"name":"hr","password":"password of hr","groups":["admin"]})")
              .status == 201);
  const std::string analyst = login(d, "hr", "password of hr");
  auto who_analyst = request(d, "GET", "/api/v1/whoami", analyst);
  CHECK(json::parse(who_analyst.body).at("reveal_names").as_bool() == false);
  {
    std::vector<std::string> argv{curl_path(), "-sS", "--cacert", d.ca(), "-o", "/dev/null", "-w", "%{http_code}",
                                  "-H", "Authorization: Bearer " + d.admin_token(), "-H", "Content-Type: text/csv",
                                  "--data-binary", "user,department,region\nmallory,Sales,EMEA\ntrent,Engineering,AMER\n",
                                  "https://127.0.0.1:" + std::to_string(d.api_port()) + "/api/v1/users/attributes/import"};
    auto imp = run_command(argv);
    REQUIRE(imp.out == "200");
  }
  auto seen = json::parse(request(d, "GET", "/api/v1/users/attributes", analyst).body);
  REQUIRE(seen.at("count").as_int64() == 2);
  for (const auto& u : seen.at("users").as_array()) {
    const std::string name(u.at("user").as_string());
    CHECK(name.rfind("user-", 0) == 0);
    CHECK(name.size() == 17);
  }
  // A custom group scoped to EMEA sees only mallory (by her pseudonym), and filters by it.
  REQUIRE(request(d, "POST", "/api/v1/role-groups", root,
                  R"({"name":"emea-people","roles":["admin"],"scope":{"attribute":"region","values":["EMEA"]}})")
              .status == 201);
  REQUIRE(request(d, "POST", "/api/v1/accounts", root,
                  R"({"name":"emea-admin","password":"password of emea","groups":["emea-people"]})")
              .status == 201);
  const std::string scoped = login(d, "emea-admin", "password of emea");
  auto emea = json::parse(request(d, "GET", "/api/v1/users/attributes", scoped).body);
  REQUIRE(emea.at("count").as_int64() == 1);
  CHECK(emea.at("users").at(0).at("region").as_string() == "EMEA");
  const std::string p(emea.at("users").at(0).at("user").as_string());
  CHECK(json::parse(request(d, "GET", "/api/v1/users/attributes?user=" + p, analyst).body).at("count").as_int64() == 1);
  CHECK(json::parse(request(d, "GET", "/api/v1/users/attributes?user=mallory", analyst).body).at("count").as_int64() == 0);
}
