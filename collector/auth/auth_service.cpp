#include "collector/auth/auth_service.h"

#include <algorithm>
#include <set>

#include "collector/auth/roles.h"
#include "shared/crypto.h"
#include "shared/time_util.h"

namespace vigil::collector::auth {

AuthService::AuthService(AccountStore& store, Pseudonymizer pseudonyms, const policy::PolicyDirectory* people,
                         PrivacySettings privacy, Clock clock)
    : store_(store),
      pseudonyms_(std::move(pseudonyms)),
      people_(people),
      privacy_(privacy),
      clock_(clock ? std::move(clock) : Clock([] { return now_ns(); })) {}

void AuthService::set_reveal_hook(std::function<void(const std::string&, const std::string&)> hook) {
  reveal_hook_ = std::move(hook);
}

std::shared_ptr<const std::vector<policy::UserAttributes>> AuthService::attributes() const {
  std::lock_guard lock(attr_mu_);
  if (!people_) return std::make_shared<std::vector<policy::UserAttributes>>();
  const auto gen = people_->generation();
  if (!attr_snapshot_ || gen != attr_generation_) {
    attr_snapshot_ = std::make_shared<std::vector<policy::UserAttributes>>(people_->user_attributes());
    attr_generation_ = gen;
  }
  return attr_snapshot_;
}

void AuthService::note_reveal(const std::string& actor, const std::string& user) const {
  if (!reveal_hook_) return;
  const std::int64_t t = clock_();
  {
    std::lock_guard lock(reveal_mu_);
    if (last_reveal_.size() > 100000) last_reveal_.clear();  // bounded; worst case a few repeated entries
    auto [it, fresh] = last_reveal_.try_emplace({actor, user}, t);
    if (!fresh) {
      if (t - it->second < kRevealAuditWindow) return;
      it->second = t;
    }
  }
  reveal_hook_(actor, user);
}

void AuthService::decorate(Caller& caller, const std::vector<RoleGroup>& groups) const {
  const bool reveal = privacy_.reveal_by_role && caller.may(Permission::RevealNames);
  const std::string actor = caller.name;
  const AuthService* self = this;
  if (reveal) {
    caller.show_name = [self, actor](const std::string& user) {
      self->note_reveal(actor, user);
      return user;
    };
  } else {
    caller.show_name = [self](const std::string& user) { return self->pseudonyms_.pseudonym(user); };
  }
  caller.filter_match = [self, reveal](const std::string& real, const std::string& given) {
    if (reveal && real == given) return true;
    return self->pseudonyms_.pseudonym(real) == given;
  };
  // Population: everyone when any group is unscoped.
  bool everyone = groups.empty() && caller.permissions.any();
  std::vector<const Scope*> scopes;
  for (const auto& g : groups) {
    if (g.scope.attribute.empty()) everyone = true;
    else scopes.push_back(&g.scope);
  }
  if (everyone || scopes.empty()) {
    caller.in_population = nullptr;
    return;
  }
  auto allowed = std::make_shared<std::set<std::string>>();
  for (const auto& a : *attributes()) {
    for (const auto* s : scopes) {
      const std::string& v = s->attribute == "department" ? a.department : a.region;
      if (!v.empty() && std::find(s->values.begin(), s->values.end(), v) != s->values.end()) {
        allowed->insert(a.user);
        break;
      }
    }
  }
  caller.in_population = [allowed](const std::string& user) { return allowed->count(user) > 0; };
}

void AuthService::decorate_bootstrap(Caller& caller) const { decorate(caller, {}); }

Result<Caller> AuthService::authenticate_token(std::string_view token) const {
  auto found = store_.find_token(crypto::sha256_hex(token));
  if (!found) return err("the account store is unavailable: " + found.error());
  if (!*found) return err("invalid API token (unknown; log in again with 'vigilctl login')");
  const TokenInfo& t = **found;
  const std::int64_t now_time = clock_();
  if (t.revoked_ns)
    return err("this token was revoked at " + format_rfc3339(*t.revoked_ns, 0) + "; log in again with 'vigilctl login'");
  if (now_time >= t.expires_ns)
    return err("this token expired at " + format_rfc3339(t.expires_ns, 0) + "; log in again with 'vigilctl login'");
  auto account = store_.find_account(t.account);
  if (!account) return err("the account store is unavailable: " + account.error());
  if (!*account) return err("the token's account no longer exists");
  if ((*account)->disabled) return err("account '" + t.account + "' is disabled");
  auto groups = store_.groups_of(t.account);
  if (!groups) return err("the account store is unavailable: " + groups.error());
  Caller c;
  c.name = t.account;
  for (const auto& g : *groups) c.permissions |= permissions_of(g.roles);
  decorate(c, *groups);
  return c;
}

Result<LoginOutcome> AuthService::login(const std::string& account, const std::string& password, const std::string& remote) {
  const std::int64_t t = clock_();
  const std::string keys[] = {"account:" + account, "remote:" + remote};
  {
    std::lock_guard lock(login_mu_);
    std::int64_t wait = 0;
    for (const auto& k : keys) {
      auto& v = failures_[k];
      v.erase(std::remove_if(v.begin(), v.end(), [&](std::int64_t x) { return t - x >= kLoginWindow; }), v.end());
      if (static_cast<int>(v.size()) >= kMaxLoginFailures) wait = std::max(wait, v.front() + kLoginWindow - t);
    }
    if (wait > 0) {
      LoginOutcome o;
      o.kind = LoginOutcome::Kind::Throttled;
      o.retry_after_s = (wait + kNsPerSec - 1) / kNsPerSec;
      return o;
    }
    if (dummy_hash_.empty()) {
      auto h = hash_password(crypto::random_token(16));
      if (!h) return err(h.error());
      dummy_hash_ = *h;
    }
  }
  auto found = store_.find_account(account);
  if (!found) return err(found.error());
  const bool ok = *found ? verify_password((*found)->password_hash, password) : (verify_password(dummy_hash_, password), false);
  if (!ok || (*found)->disabled) {
    std::lock_guard lock(login_mu_);
    for (const auto& k : keys) failures_[k].push_back(t);
    if (failures_.size() > 100000) failures_.clear();
    return LoginOutcome{};
  }
  {
    std::lock_guard lock(login_mu_);
    failures_.erase(keys[0]);
  }
  auto issued = issue_token(account, "login from " + (remote.empty() ? std::string("local") : remote), "session", kSessionTtlNs);
  if (!issued) return err(issued.error());
  LoginOutcome o;
  o.kind = LoginOutcome::Kind::Ok;
  o.token = std::move(issued->first);
  o.info = std::move(issued->second);
  return o;
}

Result<std::pair<std::string, TokenInfo>> AuthService::issue_token(const std::string& account, const std::string& label,
                                                                   const std::string& kind, std::int64_t ttl_ns) {
  TokenInfo info;
  static constexpr char kHex[] = "0123456789abcdef";
  info.id = "tok_";
  for (unsigned char b : crypto::random_bytes(6)) {
    info.id.push_back(kHex[b >> 4]);
    info.id.push_back(kHex[b & 15]);
  }
  info.account = account;
  info.label = label;
  info.kind = kind;
  info.created_ns = clock_();
  info.expires_ns = info.created_ns + ttl_ns;
  std::string token = new_api_token();
  if (auto s = store_.add_token(info, crypto::sha256_hex(token)); !s) return err(s.error());
  return std::make_pair(std::move(token), std::move(info));
}

Result<std::optional<TokenInfo>> AuthService::token_info(std::string_view token) {
  return store_.find_token(crypto::sha256_hex(token));
}

}  // namespace vigil::collector::auth
