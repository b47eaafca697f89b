// In-memory PolicyDirectory and event builders for the policy engine's unit tests.
#pragma once
#include <atomic>
#include <mutex>

#include "collector/policy/directory.h"
#include "vigil.pb.h"

namespace vigil::test {

using namespace vigil::collector::policy;

class MemoryDirectory final : public PolicyDirectory {
 public:
  std::vector<Policy> policies() const override { std::lock_guard l(mu_); return policies_; }
  std::vector<HrRecord> hr_records() const override { std::lock_guard l(mu_); return hr_; }
  std::vector<UserAttributes> user_attributes() const override { std::lock_guard l(mu_); return attrs_; }
  std::vector<DlpRule> dlp_rules() const override { std::lock_guard l(mu_); return rules_; }
  std::uint64_t generation() const override { return gen_; }

  void add(Policy p) { std::lock_guard l(mu_); policies_.push_back(std::move(p)); ++gen_; }
  void add(HrRecord r) { std::lock_guard l(mu_); hr_.push_back(std::move(r)); ++gen_; }
  void add(UserAttributes a) { std::lock_guard l(mu_); attrs_.push_back(std::move(a)); ++gen_; }
  void add(DlpRule r) { std::lock_guard l(mu_); rules_.push_back(std::move(r)); ++gen_; }

 private:
  mutable std::mutex mu_;
  std::vector<Policy> policies_;
  std::vector<HrRecord> hr_;
  std::vector<UserAttributes> attrs_;
  std::vector<DlpRule> rules_;
  std::atomic<std::uint64_t> gen_{1};
};

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kHour = 3600 * kSec;
constexpr std::int64_t kDay = 24 * kHour;
// Monday 2026-03-02 00:00:00 UTC.
constexpr std::int64_t kDay0 = 1772409600LL * kSec;

inline std::vector<IndicatorSetting> data_indicators() {
  return {{"exfil.removable", true, 10, 1}, {"exfil.network_share", true, 10, 1}, {"print.job", true, 5, 1},
          {"file.archive_created", true, 5, 1}, {"file.extension_mismatch", true, 5, 1}, {"file.delete", true, 2, 1},
          {"file.bulk", true, 10, 1}, {"file.sensitive", true, 10, 1}};
}
inline std::vector<IndicatorSetting> security_indicators() {
  return {{"security.firewall", true, 15, 1}, {"security.audit", true, 15, 1}, {"security.lsm", true, 15, 1},
          {"security.sudoers", true, 10, 1},  {"security.pam", true, 10, 1},   {"security.sshd", true, 5, 1},
          {"security.screen_lock", true, 5, 1}, {"agent.tamper", true, 20, 1}};
}

inline Policy make_policy(std::string id, Template t, double threshold = 20) {
  Policy p;
  p.id = id;
  p.name = id;
  p.tmpl = t;
  p.min_risk_threshold = threshold;
  const bool security = t == Template::GeneralSecurityViolations || t == Template::SecurityViolationsDepartingUsers ||
                        t == Template::SecurityViolationsPriorityUsers || t == Template::SecurityViolationsDisgruntledUsers;
  p.indicators = security ? security_indicators() : data_indicators();
  return p;
}

inline v1::Event base(const std::string& user, const std::string& type, std::int64_t t) {
  static std::uint64_t seq = 0;
  v1::Event e;
  e.set_seq(++seq);
  e.set_time_ns(t);
  e.set_type(type);
  e.set_user(user);
  return e;
}

inline v1::Event exfil(const std::string& user, const std::string& path, std::int64_t t, std::uint64_t size = 1 << 20,
                       const std::string& type = "exfil.removable",
                       std::vector<std::pair<std::string, std::uint32_t>> findings = {}) {
  auto e = base(user, type, t);
  auto* f = e.mutable_file();
  f->set_path("/media/usb" + path);
  f->set_source_path(path);
  f->set_size(size);
  if (!findings.empty()) {
    f->mutable_classification()->set_status("scanned");
    for (const auto& [k, n] : findings) {
      auto* x = f->mutable_classification()->add_findings();
      x->set_type(k);
      x->set_count(n);
    }
  }
  return e;
}

inline v1::Event file_event(const std::string& user, const std::string& type, const std::string& path, std::int64_t t) {
  auto e = base(user, type, t);
  e.mutable_file()->set_path(path);
  return e;
}

inline v1::Event security(const std::string& user, const std::string& category, const std::string& change,
                          const std::string& old_value, const std::string& new_value, std::int64_t t) {
  auto e = base(user, "security.changed", t);
  auto* s = e.mutable_security();
  s->set_category(category);
  s->set_item(category == "firewall" ? "nftables ruleset" : "/etc/" + category);
  s->set_change(change);
  s->set_old_value(old_value);
  s->set_new_value(new_value);
  return e;
}

inline v1::Event tamper(const std::string& user, std::int64_t t) {
  auto e = base(user, "agent.tamper", t);
  e.mutable_tamper()->set_what("stopped");
  e.mutable_tamper()->set_item("vigil-agent");
  return e;
}

}  // namespace vigil::test
