#include "collector/auth/auth_service.h"

#include <algorithm>
#include <array>
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

std::shared_ptr<const NameRedactor> AuthService::redactor() const {
  std::lock_guard lock(attr_mu_);
  if (!people_) return std::make_shared<NameRedactor>();
  const auto gen = people_->generation();
  if (!redactor_ || gen != redactor_generation_) {
    std::vector<std::string> names;
    for (const auto& a : people_->user_attributes()) {
      names.push_back(a.user);
      if (!a.manager.empty()) names.push_back(a.manager);
    }
    for (const auto& r : people_->hr_records()) names.push_back(r.user);
    redactor_ = std::make_shared<NameRedactor>(names);
    redactor_generation_ = gen;
  }
  return redactor_;
}

std::string AuthService::cached_pseudonym(const std::string& user) const {
  {
    std::shared_lock lock(pseudonym_mu_);
    if (auto it = pseudonym_of_.find(user); it != pseudonym_of_.end()) return it->second;
  }
  std::string p = pseudonyms_.pseudonym(user);
  std::unique_lock lock(pseudonym_mu_);
  if (pseudonym_of_.size() >= kMaxCachedPseudonyms) {
    pseudonym_of_.clear();
    users_of_pseudonym_.clear();
  }
  if (pseudonym_of_.emplace(user, p).second) users_of_pseudonym_.emplace(p, user);
  return p;
}

std::vector<std::string> AuthService::users_with_pseudonym(const std::string& pseudonym,
                                                           const std::vector<std::string>& candidates) const {
  // Users not yet in the cache get their pseudonym once; after that this is lookups only.
  {
    std::vector<const std::string*> unknown;
    {
      std::shared_lock lock(pseudonym_mu_);
      for (const auto& c : candidates)
        if (!pseudonym_of_.count(c)) unknown.push_back(&c);
    }
    for (const auto* c : unknown) (void)cached_pseudonym(*c);
  }
  std::vector<std::string> out;
  std::shared_lock lock(pseudonym_mu_);
  auto [lo, hi] = users_of_pseudonym_.equal_range(pseudonym);
  for (auto it = lo; it != hi; ++it)
    if (std::binary_search(candidates.begin(), candidates.end(), it->second) ||
        std::find(candidates.begin(), candidates.end(), it->second) != candidates.end())
      out.push_back(it->second);
  return out;
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
    caller.show_name = [self](const std::string& user) { return self->cached_pseudonym(user); };
    // The names known when the request is authenticated: one lookup per request, not per string.
    caller.hide_names = [self, names = redactor()](std::string_view text, const std::vector<std::string>& also) {
      return names->replace(text, [self](const std::string& u) { return self->cached_pseudonym(u); }, also);
    };
  }
  caller.filter_match = [self, reveal](const std::string& real, const std::string& given) {
    if (reveal && real == given) return true;
    return self->cached_pseudonym(real) == given;
  };
  caller.filter_users = [self, reveal](const std::string& given, const std::vector<std::string>& candidates) {
    std::vector<std::string> out;
    if (reveal && std::find(candidates.begin(), candidates.end(), given) != candidates.end()) out.push_back(given);
    if (Pseudonymizer::looks_like_pseudonym(given))
      for (auto& u : self->users_with_pseudonym(given, candidates))
        if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(std::move(u));
    return out;
  };
  // Population, per permission: the groups that grant p decide what p shows. Everyone when any
  // of them is unscoped; else the users whose attribute is one of their scopes' values. One
  // group's scope never widens or narrows what another group's permissions show.
  using Population = std::shared_ptr<const std::set<std::string>>;  // null: everyone
  std::vector<std::pair<PermissionSet, const Scope*>> grants;
  bool any_scoped = false;
  for (const auto& g : groups) {
    grants.emplace_back(permissions_of(g.roles), g.scope.attribute.empty() ? nullptr : &g.scope);
    any_scoped = any_scoped || !g.scope.attribute.empty();
  }
  if (!any_scoped) {
    caller.population_for = nullptr;
    caller.in_population = nullptr;
    return;
  }
  std::shared_ptr<const std::vector<policy::UserAttributes>> attrs;
  std::map<std::vector<const Scope*>, Population> made;  // permissions granted by the same groups share one
  auto per_permission = std::make_shared<std::array<Population, kPermissionCount>>();
  for (std::size_t p = 0; p < kPermissionCount; ++p) {
    if (!caller.permissions.test(p)) {
      (*per_permission)[p] = std::make_shared<std::set<std::string>>();  // not held: nobody
      continue;
    }
    std::vector<const Scope*> scopes;
    bool everyone = false;
    for (const auto& [perms, scope] : grants) {
      if (!perms.test(p)) continue;
      if (!scope) everyone = true;
      else scopes.push_back(scope);
    }
    if (everyone) continue;  // null: everyone
    auto [it, fresh] = made.try_emplace(scopes);
    if (fresh) {
      if (!attrs) attrs = attributes();
      auto allowed = std::make_shared<std::set<std::string>>();
      for (const auto& a : *attrs) {
        for (const auto* s : scopes) {
          const std::string& v = s->attribute == "department" ? a.department : a.region;
          if (!v.empty() && std::find(s->values.begin(), s->values.end(), v) != s->values.end()) {
            allowed->insert(a.user);
            break;
          }
        }
      }
      it->second = std::move(allowed);
    }
    (*per_permission)[p] = it->second;
  }
  auto population = [](Population set) -> std::function<bool(const std::string&)> {
    if (!set) return nullptr;
    return [set = std::move(set)](const std::string& user) { return set->count(user) > 0; };
  };
  caller.population_for = [per_permission, population](Permission p) {
    return population((*per_permission)[static_cast<std::size_t>(p)]);
  };
  // Until a route names its permission: only users visible under every held permission.
  std::vector<Population> held;
  for (std::size_t p = 0; p < kPermissionCount; ++p)
    if (caller.permissions.test(p) && (*per_permission)[p]) held.push_back((*per_permission)[p]);
  caller.in_population = [held](const std::string& user) {
    for (const auto& s : held)
      if (!s->count(user)) return false;
    return true;
  };
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
