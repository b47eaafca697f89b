// The account store, password hashing, tokens (expiry, revoke), the last admin, login throttling
// and pseudonyms (collector/auth).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "collector/auth/account_store.h"
#include "collector/collector_config.h"
#include "collector/auth/auth_service.h"
#include "collector/auth/roles.h"
#include "collector/auth/secrets.h"
#include "shared/crypto.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::collector::auth;
using namespace vigil::test;

namespace {

constexpr std::int64_t kS = 1'000'000'000;

unsigned mode_of(const std::string& path) {
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("auth: argon2id hashes verify only the right password", "[auth]") {
  auto h = must(hash_password("correct horse battery"));
  CHECK(h.rfind("$argon2id$", 0) == 0);
  CHECK(h.find("correct horse") == std::string::npos);
  CHECK(verify_password(h, "correct horse battery"));
  CHECK_FALSE(verify_password(h, "correct horse batterz"));
  CHECK_FALSE(verify_password("not a hash", "correct horse battery"));
  CHECK_FALSE(verify_password("", ""));
  // A fresh salt each time.
  CHECK(must(hash_password("correct horse battery")) != h);
}

TEST_CASE("auth: pseudonyms are stable per key, differ between keys, and the key file is 0600", "[auth]") {
  TempDir tmp;
  auto a = must(Pseudonymizer::from_key_file(tmp.file("pseudonym.key")));
  CHECK(mode_of(tmp.file("pseudonym.key")) == 0600);
  auto again = must(Pseudonymizer::from_key_file(tmp.file("pseudonym.key")));
  const auto p = a.pseudonym("alice");
  CHECK(Pseudonymizer::looks_like_pseudonym(p));
  CHECK(p.find("alice") == std::string::npos);
  CHECK(again.pseudonym("alice") == p);
  CHECK(a.pseudonym("bob") != p);
  TempDir other;
  auto b = must(Pseudonymizer::from_key_file(other.file("pseudonym.key")));
  CHECK(b.pseudonym("alice") != p);
  CHECK_FALSE(Pseudonymizer::looks_like_pseudonym("alice"));
  CHECK_FALSE(Pseudonymizer::looks_like_pseudonym("user-12345678901z"));
}

TEST_CASE("auth: roles and built-in groups follow the table; insider_risk_management holds everything", "[auth]") {
  CHECK(builtin_groups().size() == 6);
  const auto* irm = find_builtin_group("insider_risk_management");
  REQUIRE(irm);
  std::vector<std::string> names(irm->roles.begin(), irm->roles.end());
  CHECK(permissions_of(names) == all_permissions());
  CHECK(permissions_of({"auditor"}).test(static_cast<std::size_t>(Permission::ReadAudit)));
  CHECK_FALSE(permissions_of({"analyst"}).test(static_cast<std::size_t>(Permission::InvestigateActivity)));
  CHECK(permissions_of({"investigator"}).test(static_cast<std::size_t>(Permission::InvestigateActivity)));
  CHECK_FALSE(permissions_of({"admin"}).test(static_cast<std::size_t>(Permission::ReadAlerts)));
  CHECK(permissions_of({"admin"}).test(static_cast<std::size_t>(Permission::ManageAccounts)));
}

TEST_CASE("auth: account store keeps accounts, groups and members; file is 0600", "[auth]") {
  TempDir tmp;
  auto store = must(AccountStore::open(tmp.file("auth.db")));
  CHECK(mode_of(tmp.file("auth.db")) == 0600);
  auto h = must(hash_password("a long password"));
  CHECK(must(store->add_account("ann", h, {"analysts"}, 1)).outcome == Outcome::Ok);
  CHECK(must(store->add_account("ann", h, {}, 1)).outcome == Outcome::Exists);
  auto nf = must(store->add_account("bob", h, {"no-such-group"}, 1));
  CHECK(nf.outcome == Outcome::NotFound);
  CHECK(nf.detail.find("no-such-group") != std::string::npos);
  CHECK_FALSE(must(store->find_account("bob")));  // nothing half-applied
  auto ann = must(store->find_account("ann"));
  REQUIRE(ann);
  CHECK(ann->groups == std::vector<std::string>{"analysts"});
  CHECK(verify_password(ann->password_hash, "a long password"));

  RoleGroup g;
  g.name = "emea-analysts";
  g.roles = {"analyst"};
  g.scope = {"region", {"EMEA"}};
  CHECK(must(store->create_group(g)).outcome == Outcome::Ok);
  CHECK(must(store->create_group(g)).outcome == Outcome::Exists);
  CHECK(must(store->add_member("emea-analysts", "ann")).outcome == Outcome::Ok);
  CHECK(must(store->add_member("emea-analysts", "ann")).outcome == Outcome::Exists);
  auto found = must(store->find_group("emea-analysts"));
  REQUIRE(found);
  CHECK(found->scope.attribute == "region");
  CHECK(found->scope.values == std::vector<std::string>{"EMEA"});
  CHECK(found->members == std::vector<std::string>{"ann"});
  // Built-in groups: only members change.
  RoleGroup b;
  b.name = "viewers";
  b.roles = {"admin"};
  CHECK(must(store->update_group(b)).outcome == Outcome::Builtin);
  CHECK(must(store->delete_group("auditors")).outcome == Outcome::Builtin);
  CHECK(must(store->delete_group("emea-analysts")).outcome == Outcome::Ok);
  CHECK(must(store->groups_of("ann")).size() == 1);
  // Reopening keeps everything and the built-ins.
  store.reset();
  auto again = must(AccountStore::open(tmp.file("auth.db")));
  CHECK(must(again->list_groups()).size() == 6);
  CHECK(must(again->list_accounts()).size() == 1);
}

TEST_CASE("auth: the last admin can never be removed", "[auth]") {
  TempDir tmp;
  auto store = must(AccountStore::open(tmp.file("auth.db")));
  auto h = must(hash_password("a long password"));
  REQUIRE(must(store->add_account("root", h, {"admin"}, 1)).outcome == Outcome::Ok);
  REQUIRE(must(store->add_account("ann", h, {"analysts"}, 1)).outcome == Outcome::Ok);
  CHECK(must(store->admin_count()) == 1);
  CHECK(must(store->delete_account("root")).outcome == Outcome::LastAdmin);
  CHECK(must(store->update_account("root", std::nullopt, true, 5)).outcome == Outcome::LastAdmin);
  CHECK(must(store->remove_member("admin", "root")).outcome == Outcome::LastAdmin);
  // A custom group giving admin: its deletion or a change of roles is checked too.
  RoleGroup g{"ops", "", {"admin"}, {}, false, {}};
  REQUIRE(must(store->create_group(g)).outcome == Outcome::Ok);
  REQUIRE(must(store->add_member("ops", "ann")).outcome == Outcome::Ok);
  CHECK(must(store->admin_count()) == 2);
  CHECK(must(store->remove_member("admin", "root")).outcome == Outcome::Ok);
  g.roles = {"viewer"};
  CHECK(must(store->update_group(g)).outcome == Outcome::LastAdmin);
  CHECK(must(store->delete_group("ops")).outcome == Outcome::LastAdmin);
  CHECK(must(store->delete_account("ann")).outcome == Outcome::LastAdmin);
  CHECK(must(store->delete_account("root")).outcome == Outcome::Ok);  // not an admin any more
  CHECK(must(store->admin_count()) == 1);
  auto ann = must(store->find_account("ann"));
  REQUIRE(ann);
  CHECK_FALSE(ann->disabled);
}

TEST_CASE("auth: tokens are stored as SHA-256, expire, and can be revoked", "[auth]") {
  TempDir tmp;
  auto store = must(AccountStore::open(tmp.file("auth.db")));
  std::int64_t clock = 1000 * kS;
  AuthService svc(*store, Pseudonymizer("k0123456789abcdef0123456789abcdef"), nullptr, {}, [&] { return clock; });
  REQUIRE(must(store->add_account("ann", must(hash_password("a long password")), {"analysts"}, clock)).outcome == Outcome::Ok);
  auto [token, info] = must(svc.issue_token("ann", "ci", "api", 60 * kS));
  CHECK(token.rfind("vgl_", 0) == 0);
  CHECK(token.size() > 40);
  CHECK(must(store->find_token(crypto::sha256_hex(token))));
  CHECK_FALSE(must(store->find_token(token)));  // never the text itself
  auto caller = must(svc.authenticate_token(token));
  CHECK(caller.name == "ann");
  CHECK(caller.may(Permission::ReadAlerts));
  CHECK(caller.may(Permission::ManageCases));
  CHECK_FALSE(caller.may(Permission::ManageAccounts));
  CHECK(caller.shown_user("alice") != "alice");  // analysts see pseudonyms

  clock += 61 * kS;
  auto expired = svc.authenticate_token(token);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().find("expired") != std::string::npos);

  auto [t2, i2] = must(svc.issue_token("ann", "", "api", 3600 * kS));
  CHECK(svc.authenticate_token(t2));
  CHECK(must(store->revoke_token(i2.id, clock)).outcome == Outcome::Ok);
  auto revoked = svc.authenticate_token(t2);
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().find("revoked") != std::string::npos);
  CHECK(must(store->revoke_token("tok_nope", clock)).outcome == Outcome::NotFound);

  auto [t3, i3] = must(svc.issue_token("ann", "", "api", 3600 * kS));
  REQUIRE(must(store->update_account("ann", std::nullopt, true, clock)).outcome == Outcome::Ok);
  CHECK_FALSE(svc.authenticate_token(t3));  // disabling revokes
  CHECK_FALSE(svc.authenticate_token("vgl_unknown"));
  CHECK(must(store->list_tokens("ann")).size() == 3);
}

TEST_CASE("auth: logins are throttled after repeated failures", "[auth]") {
  TempDir tmp;
  auto store = must(AccountStore::open(tmp.file("auth.db")));
  std::int64_t clock = 1000 * kS;
  AuthService svc(*store, Pseudonymizer("k0123456789abcdef0123456789abcdef"), nullptr, {}, [&] { return clock; });
  REQUIRE(must(store->add_account("ann", must(hash_password("a long password")), {"viewers"}, clock)).outcome == Outcome::Ok);
  using K = LoginOutcome::Kind;
  auto ok = must(svc.login("ann", "a long password", "10.0.0.1"));
  REQUIRE(ok.kind == K::Ok);
  CHECK(svc.authenticate_token(ok.token));
  for (int i = 0; i < kMaxLoginFailures; ++i) CHECK(must(svc.login("ann", "wrong", "10.0.0.2")).kind == K::Refused);
  auto t = must(svc.login("ann", "a long password", "10.0.0.3"));  // right password, still refused
  CHECK(t.kind == K::Throttled);
  CHECK(t.retry_after_s > 0);
  CHECK(t.retry_after_s <= kLoginWindow / kS);
  // The same remote is throttled for other accounts too.
  CHECK(must(svc.login("someone", "x", "10.0.0.2")).kind == K::Throttled);
  clock += kLoginWindow;
  CHECK(must(svc.login("ann", "a long password", "10.0.0.3")).kind == K::Ok);
  CHECK(must(svc.login("nobody", "a long password", "10.0.0.4")).kind == K::Refused);
}

TEST_CASE("auth: [privacy] reveal_names is by_role by default, never when set, anything else an error", "[auth]") {
  TempDir tmp;
  auto def = must(load_collector_config(tmp.write("a.toml", "[server]\nio_threads = 2\n")));
  CHECK(def.privacy_reveal_names == "by_role");
  CHECK(must(load_collector_config(tmp.write("b.toml", "[privacy]\nreveal_names = \"never\"\n"))).privacy_reveal_names == "never");
  auto bad = load_collector_config(tmp.write("c.toml", "[privacy]\nreveal_names = \"always\"\n"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("c.toml:2") != std::string::npos);
  CHECK_FALSE(load_collector_config(tmp.write("d.toml", "[privacy]\nshow = true\n")));
  // What init writes round-trips.
  CollectorConfig c;
  c.privacy_reveal_names = "never";
  CHECK(must(load_collector_config(tmp.write("e.toml", render_collector_config(c)))).privacy_reveal_names == "never");
}
