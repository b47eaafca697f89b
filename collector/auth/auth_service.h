// AuthService: accounts and tokens turned into Callers (the API's Authenticator), logins with
// throttling, and the privacy rules every Caller carries (pseudonyms, population scope).
//
// Promises:
// - authenticate_token() finds a token by its SHA-256 only; an unknown, revoked or expired token,
//   or one of a disabled account, is an error that says which (the API's 401 message).
// - A Caller's permissions are the union of its role groups' roles. Its population is per
//   permission (Caller::population_for): for permission p, everyone when any group granting p is
//   unscoped, else the users whose department/region attribute (user attributes import) is one of
//   the values of the scoped groups granting p; users without attributes are outside every scoped
//   population. So an unscoped Auditors membership does not widen a scoped Analysts membership.
// - Free text (Caller::hide_names) has the names of the directory's users (attributes, managers,
//   HR records) replaced by their pseudonyms for callers shown pseudonyms (NameRedactor).
// - Pseudonyms are computed once per user per run and indexed both ways, so a filter by a
//   pseudonym resolves to the real user with hash lookups (Caller::filter_users), not one HMAC
//   per stored user per request. The cache is bounded (kMaxCachedPseudonyms; cleared beyond).
// - Names: shown as pseudonyms unless the caller holds reveal_names AND the deployment's
//   [privacy] reveal_names is "by_role". Each reveal goes to the reveal hook (the audit log) at
//   most once per caller and user per kRevealAuditWindow, so a long list is not one entry a row.
// - Logins: after kMaxLoginFailures failures within kLoginWindow for an account name or a remote
//   address, further attempts are refused (Throttled, with the seconds to wait) without checking
//   the password.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <string>

#include "collector/api/authenticator.h"
#include "collector/auth/account_store.h"
#include "collector/auth/name_redactor.h"
#include "collector/auth/secrets.h"
#include "collector/policy/directory.h"

namespace vigil::collector::auth {

inline constexpr std::int64_t kNsPerSec = 1'000'000'000;
inline constexpr std::int64_t kSessionTtlNs = 12 * 3600 * kNsPerSec;
inline constexpr std::int64_t kDefaultApiTokenTtlNs = 30 * 86400 * kNsPerSec;
inline constexpr std::int64_t kMaxTokenTtlNs = 365 * 86400 * kNsPerSec;
inline constexpr int kMaxLoginFailures = 5;
inline constexpr std::int64_t kLoginWindow = 15 * 60 * kNsPerSec;
inline constexpr std::int64_t kRevealAuditWindow = 3600 * kNsPerSec;
inline constexpr std::size_t kMaxCachedPseudonyms = 1'000'000;

struct PrivacySettings {
  bool reveal_by_role = true;  // false: [privacy] reveal_names = "never"
};

struct LoginOutcome {
  enum class Kind { Ok, Refused, Throttled } kind = Kind::Refused;
  std::string token;        // Ok: the new session token (shown once)
  TokenInfo info;           // Ok
  std::int64_t retry_after_s = 0;  // Throttled
};

class AuthService final : public Authenticator {
 public:
  using Clock = std::function<std::int64_t()>;
  // people: user attributes for population scopes (null: scoped groups see nobody).
  AuthService(AccountStore& store, Pseudonymizer pseudonyms, const policy::PolicyDirectory* people,
              PrivacySettings privacy, Clock clock = {});

  Result<Caller> authenticate_token(std::string_view token) const override;
  // The bootstrap admin token's caller: every permission, names as the privacy setting says.
  void decorate_bootstrap(Caller& caller) const;

  // Blocks for the password hash check (run it off the I/O threads).
  Result<LoginOutcome> login(const std::string& account, const std::string& password, const std::string& remote);
  // A new token for the account ("session" or "api"); the text is returned once and never stored.
  Result<std::pair<std::string, TokenInfo>> issue_token(const std::string& account, const std::string& label,
                                                        const std::string& kind, std::int64_t ttl_ns);
  // The token's record (for logout: revoke the caller's own token).
  Result<std::optional<TokenInfo>> token_info(std::string_view token);

  // Called with (caller name, real user) when a real name is shown; set once before serving.
  void set_reveal_hook(std::function<void(const std::string& actor, const std::string& user)> hook);

  AccountStore& store() { return store_; }
  const Pseudonymizer& pseudonyms() const { return pseudonyms_; }
  bool reveal_allowed() const { return privacy_.reveal_by_role; }
  std::int64_t now() const { return clock_(); }

 private:
  // in_population, show_name and filter_match for a caller.
  void decorate(Caller& caller, const std::vector<RoleGroup>& groups) const;
  void note_reveal(const std::string& actor, const std::string& user) const;
  std::shared_ptr<const std::vector<policy::UserAttributes>> attributes() const;
  // The names free text is searched for: users and managers of the attributes, users of the HR
  // records; rebuilt when the directory's generation changes.
  std::shared_ptr<const NameRedactor> redactor() const;
  // pseudonyms_.pseudonym(user), remembered (HMAC once per user per run).
  std::string cached_pseudonym(const std::string& user) const;
  // The users of `candidates` whose pseudonym is `pseudonym` (an index grown as users appear).
  std::vector<std::string> users_with_pseudonym(const std::string& pseudonym, const std::vector<std::string>& candidates) const;

  AccountStore& store_;
  Pseudonymizer pseudonyms_;
  const policy::PolicyDirectory* people_;
  PrivacySettings privacy_;
  Clock clock_;
  std::function<void(const std::string&, const std::string&)> reveal_hook_;

  mutable std::mutex reveal_mu_;
  mutable std::map<std::pair<std::string, std::string>, std::int64_t> last_reveal_;
  mutable std::mutex attr_mu_;
  mutable std::uint64_t attr_generation_ = 0;
  mutable std::shared_ptr<const std::vector<policy::UserAttributes>> attr_snapshot_;
  mutable std::uint64_t redactor_generation_ = 0;
  mutable std::shared_ptr<const NameRedactor> redactor_;
  mutable std::shared_mutex pseudonym_mu_;
  mutable std::unordered_map<std::string, std::string> pseudonym_of_;              // real -> pseudonym
  mutable std::unordered_multimap<std::string, std::string> users_of_pseudonym_;   // pseudonym -> real
  std::mutex login_mu_;
  std::map<std::string, std::vector<std::int64_t>> failures_;  // "account:x" / "remote:y" -> times
  std::string dummy_hash_;  // verified against for unknown accounts, so timing says nothing
};

}  // namespace vigil::collector::auth
