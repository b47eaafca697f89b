#include "collector/policy/engine.h"

#include <fnmatch.h>

#include "collector/policy/delta_saver.h"

#include <boost/algorithm/string/predicate.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "collector/policy/activity.h"
#include "collector/policy/alert_store.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector::policy {

namespace {

constexpr std::int64_t kNsPerDay = 86400LL * 1'000'000'000;
constexpr std::int64_t kNsPerHour = 3600LL * 1'000'000'000;

std::int32_t day_of(std::int64_t t) {
  return static_cast<std::int32_t>(t >= 0 ? t / kNsPerDay : (t - kNsPerDay + 1) / kNsPerDay);
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", x);
  return buf;
}
std::string fmt1(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

// Counts per day for one (user, indicator), oldest first; nearly always appended at the back.
struct DayCounts {
  std::vector<std::pair<std::int32_t, std::uint64_t>> days;
  std::int32_t cache_day = INT32_MIN;
  std::uint32_t cache_hist = 0;
  double cache_mean = 0;

  void add(std::int32_t day, std::uint64_t n, std::uint32_t keep_days) {
    if (days.empty() || days.back().first < day) {
      days.emplace_back(day, n);
      if (days.front().first < day - static_cast<std::int32_t>(keep_days)) {
        auto cut = std::find_if(days.begin(), days.end(),
                                [&](const auto& d) { return d.first >= day - static_cast<std::int32_t>(keep_days); });
        days.erase(days.begin(), cut);
      }
      return;
    }
    if (days.back().first == day) {
      days.back().second += n;
      return;
    }
    auto it = std::lower_bound(days.begin(), days.end(), day, [](const auto& d, std::int32_t x) { return d.first < x; });
    if (it != days.end() && it->first == day) it->second += n;
    else days.insert(it, {day, n});
    cache_day = INT32_MIN;  // a past day changed
  }
  std::uint64_t on(std::int32_t day) const {
    if (!days.empty() && days.back().first == day) return days.back().second;
    auto it = std::lower_bound(days.begin(), days.end(), day, [](const auto& d, std::int32_t x) { return d.first < x; });
    return it != days.end() && it->first == day ? it->second : 0;
  }
  std::uint64_t sum(std::int32_t from, std::int32_t to) const {  // [from, to)
    std::uint64_t s = 0;
    for (auto it = days.rbegin(); it != days.rend() && it->first >= from; ++it)
      if (it->first < to) s += it->second;
    return s;
  }
};

struct Window {
  std::int64_t since = 0, until = 0;
  Trigger trigger;
};

struct Scope {
  UserInScope u;
  std::string alert_id;
  std::vector<ScoredActivity> pending;
};

// What one policy means for one user, rebuilt when the directory's generation changes.
struct UserPolicy {
  bool candidate = false;  // the policy's users/groups include the user
  Scope* scope = nullptr;
};

struct UserState {
  std::string name;
  std::array<DayCounts, kIndCount> counts;
  DayCounts exfil_bytes;
  std::array<std::uint64_t, 24> hours{};
  std::uint64_t hours_total = 0;
  std::int32_t first_day = INT32_MAX, last_day = INT32_MIN;
  std::array<std::int64_t, 5> last_step{INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  std::uint64_t gen = UINT64_MAX;
  bool priority = false;  // in any priority group
  std::vector<std::string> priority_groups;
  std::string department, region;
  std::vector<UserPolicy> policies;
  // Persistence: counts changed since the last save ((indicator + 2) << 32 | day; indicator -1:
  // bytes), hours changed (bit per hour), whether the user is on the state's dirty list.
  std::vector<std::uint64_t> dirty_keys;
  std::uint32_t dirty_hours = 0;
  bool listed = false;
};

struct Setting {
  bool on = false;
  double weight = 0;
  std::uint32_t threshold = 1;
};

enum class TriggerKind { Hr, Dlp, Security, Priority };

struct PolicyRt {
  Policy p;
  TriggerKind trigger = TriggerKind::Dlp;
  bool departing = false;  // for Hr: departing (resignation) vs disgruntled (performance)
  std::array<Setting, kIndCount> ind{};
};

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct Eq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

TriggerKind trigger_kind(Template t, bool& departing) {
  departing = false;
  switch (t) {
    case Template::DataTheftDepartingUsers:
    case Template::SecurityViolationsDepartingUsers:
      departing = true;
      return TriggerKind::Hr;
    case Template::DataLeaksDisgruntledUsers:
    case Template::SecurityViolationsDisgruntledUsers:
      return TriggerKind::Hr;
    case Template::DataLeaksPriorityUsers:
    case Template::SecurityViolationsPriorityUsers:
      return TriggerKind::Priority;
    case Template::GeneralSecurityViolations:
      return TriggerKind::Security;
    case Template::GeneralDataLeaks:
      break;
  }
  return TriggerKind::Dlp;
}

bool glob_match(const std::vector<std::string>& globs, std::string_view path, std::string& which) {
  if (path.empty()) return false;
  std::string p(path);
  for (const auto& g : globs)
    if (fnmatch(g.c_str(), p.c_str(), 0) == 0) {
      which = g;
      return true;
    }
  return false;
}

// The policy's priority label the file carries, if any. Labels are names people type in two
// places (the labelling tool and the policy), so case does not matter.
const std::string* priority_label(const std::vector<std::string>& wanted,
                                  const google::protobuf::RepeatedPtrField<std::string>* labels) {
  if (!labels || wanted.empty()) return nullptr;
  for (const auto& l : *labels)
    for (const auto& w : wanted)
      if (boost::algorithm::iequals(l, w)) return &w;
  return nullptr;
}

}  // namespace

struct PolicyEngine::State {
  std::uint64_t gen = UINT64_MAX;
  bool loaded_once = false;
  std::vector<PolicyRt> policies;
  std::vector<DlpRule> high_rules;
  std::unordered_map<std::string, UserAttributes, Hash, Eq> attrs;
  std::unordered_map<std::string, UserState, Hash, Eq> users;
  std::map<std::pair<std::string, std::string>, Scope> scopes;  // (policy id, user)
  std::map<std::uint64_t, Alert> alerts;                         // by number of "a-<n>"
  std::uint64_t next_alert = 1;
  std::int32_t latest_day = INT32_MIN;
  std::uint64_t peer_median = 0;
  std::size_t peer_users = 0;
  std::int64_t peer_computed = 0;  // wall time of the last recomputation
  std::int64_t last_save = 0;
  UserState* last_user = nullptr;
  // Persistence, when there is a store: what changed since the last save.
  bool track = false;
  std::set<std::pair<std::string, std::string>> dirty_scopes;
  std::map<std::uint64_t, std::set<std::uint32_t>> dirty_alerts;  // alert -> changed activity slots
  std::vector<UserState*> dirty_users;

  void mark(UserState& u, int ind, std::int32_t day) {
    if (!track) return;
    const std::uint64_t key = (static_cast<std::uint64_t>(ind + 2) << 32) | static_cast<std::uint32_t>(day);
    if (u.dirty_keys.empty() || u.dirty_keys.back() != key) u.dirty_keys.push_back(key);
    list(u);
  }
  void mark_hour(UserState& u, int hour) {
    if (!track) return;
    u.dirty_hours |= 1u << hour;
    list(u);
  }
  void list(UserState& u) {
    if (!u.listed) {
      u.listed = true;
      dirty_users.push_back(&u);
    }
  }
};

namespace {

using State = PolicyEngine::State;

void reload(State& st, const PolicyDirectory& dir, std::uint64_t gen) {
  st.gen = gen;
  st.policies.clear();
  for (auto& p : dir.policies()) {
    if (!p.enabled) continue;
    PolicyRt rt;
    rt.trigger = trigger_kind(p.tmpl, rt.departing);
    for (const auto& s : p.indicators) {
      Ind i = indicator_from_name(s.id);
      if (i == kNone) continue;
      rt.ind[i] = Setting{s.enabled && s.weight > 0, s.weight, std::max<std::uint32_t>(1, s.threshold)};
    }
    rt.p = std::move(p);
    st.policies.push_back(std::move(rt));
  }
  st.high_rules.clear();
  for (auto& r : dir.dlp_rules())
    if (r.enabled && r.severity == Severity::High) st.high_rules.push_back(std::move(r));
  st.attrs.clear();
  for (auto& a : dir.user_attributes()) {
    auto name = a.user;
    st.attrs[name] = std::move(a);
  }
  // HR and priority scopes exist without any event (Users view); dynamic ones stay as they are.
  auto hr = dir.hr_records();
  for (const auto& rt : st.policies) {
    const auto& p = rt.p;
    const std::int64_t span = static_cast<std::int64_t>(p.in_scope_days) * kNsPerDay;
    auto candidate = [&](const std::string& user) {
      if (p.all_users) return true;
      if (std::find(p.users.begin(), p.users.end(), user) != p.users.end()) return true;
      auto it = st.attrs.find(user);
      if (it == st.attrs.end()) return false;
      for (const auto& g : p.groups)
        if (g == "department:" + it->second.department || g == "region:" + it->second.region ||
            std::find(it->second.priority_groups.begin(), it->second.priority_groups.end(), g) != it->second.priority_groups.end())
          return true;
      return false;
    };
    if (rt.trigger == TriggerKind::Hr) {
      for (const auto& r : hr) {
        const bool departing_kind = r.kind == HrEventKind::Resignation || r.kind == HrEventKind::LastWorkingDate;
        if (departing_kind != rt.departing || !candidate(r.user)) continue;
        auto& s = st.scopes[{p.id, r.user}];
        const std::int64_t until = r.effective_ns + span;
        if (s.u.user.empty()) {
          s.u = UserInScope{r.user, p.id, Trigger{departing_kind ? "hr.resignation" : "hr.performance", r.effective_ns,
                                                  std::string(to_string(r.kind)) + (r.detail.empty() ? "" : ": " + r.detail)},
                            r.effective_ns, until, 0};
        } else {
          if (r.effective_ns < s.u.since_ns) {
            s.u.since_ns = r.effective_ns;
            s.u.trigger = Trigger{s.u.trigger.kind, r.effective_ns, std::string(to_string(r.kind)) + (r.detail.empty() ? "" : ": " + r.detail)};
          }
          s.u.until_ns = std::max(s.u.until_ns, until);
        }
        if (st.track) st.dirty_scopes.insert({p.id, r.user});
      }
    } else if (rt.trigger == TriggerKind::Priority) {
      for (const auto& [name, a] : st.attrs) {
        bool in = false;
        for (const auto& g : a.priority_groups)
          if (p.groups.empty() || std::find(p.groups.begin(), p.groups.end(), g) != p.groups.end()) in = true;
        if (!in || !(p.all_users || p.groups.size() || candidate(name))) continue;
        auto& s = st.scopes[{p.id, name}];
        if (s.u.user.empty()) {
          std::string groups;
          for (const auto& g : a.priority_groups) groups += (groups.empty() ? "" : ",") + g;
          s.u = UserInScope{name, p.id, Trigger{"priority_user", 0, "priority groups: " + groups}, 0, INT64_MAX, 0};
          if (st.track) st.dirty_scopes.insert({p.id, name});
        }
      }
    }
  }
  // Per-user policy views are rebuilt lazily (UserState::gen).
  st.last_user = nullptr;
}

void refresh_user(State& st, UserState& u) {
  u.gen = st.gen;
  u.policies.assign(st.policies.size(), {});
  auto at = st.attrs.find(u.name);
  u.priority = false;
  u.priority_groups.clear();
  u.department.clear();
  u.region.clear();
  if (at != st.attrs.end()) {
    u.priority_groups = at->second.priority_groups;
    u.priority = !u.priority_groups.empty();
    u.department = at->second.department;
    u.region = at->second.region;
  }
  for (std::size_t i = 0; i < st.policies.size(); ++i) {
    const auto& p = st.policies[i].p;
    bool c = p.all_users || std::find(p.users.begin(), p.users.end(), u.name) != p.users.end();
    for (const auto& g : p.groups)
      if (!c && (g == "department:" + u.department || g == "region:" + u.region ||
                 std::find(u.priority_groups.begin(), u.priority_groups.end(), g) != u.priority_groups.end()))
        c = true;
    if (st.policies[i].trigger == TriggerKind::Priority) {
      bool in = false;
      for (const auto& g : u.priority_groups)
        if (p.groups.empty() || std::find(p.groups.begin(), p.groups.end(), g) != p.groups.end()) in = true;
      c = in;
    }
    u.policies[i].candidate = c;
    auto it = st.scopes.find({p.id, u.name});
    u.policies[i].scope = it == st.scopes.end() ? nullptr : &it->second;
  }
}

UserState& user_state(State& st, std::string_view name) {
  if (st.last_user && st.last_user->name == name) return *st.last_user;
  auto it = st.users.find(name);
  if (it == st.users.end()) {
    it = st.users.emplace(std::string(name), UserState{}).first;
    it->second.name = std::string(name);
  }
  st.last_user = &it->second;
  return it->second;
}

void recompute_peers(State& st) {
  std::vector<std::uint64_t> totals;
  for (const auto& [name, u] : st.users) {
    auto b = u.exfil_bytes.sum(st.latest_day - 29, st.latest_day + 1);
    if (b > 0) totals.push_back(b);
  }
  st.peer_users = totals.size();
  if (totals.empty()) {
    st.peer_median = 0;
    return;
  }
  auto mid = totals.begin() + static_cast<std::ptrdiff_t>(totals.size() / 2);
  std::nth_element(totals.begin(), mid, totals.end());
  st.peer_median = *mid;
}

// Does a DLP rule of High severity match this activity? (any listed type at its minimum count)
const DlpRule* dlp_high_match(const State& st, const Activity& a) {
  if (a.channel.empty() || !a.has_findings()) return nullptr;
  for (const auto& r : st.high_rules) {
    bool channel = r.channels.empty();
    for (const auto& c : r.channels)
      if (c == "any" || c == a.channel) channel = true;
    if (!channel) continue;
    for (const auto& f : *a.findings) {
      auto it = r.info_types.find(f.type());
      if (it != r.info_types.end() && f.count() >= it->second) return &r;
    }
  }
  return nullptr;
}

std::string alert_id(std::uint64_t n) { return "a-" + std::to_string(n); }

}  // namespace

Severity severity_for(double score, double threshold, const EngineSettings& s) {
  if (threshold <= 0) threshold = 1;
  if (score >= s.high_at * threshold) return Severity::High;
  if (score >= s.medium_at * threshold) return Severity::Medium;
  return Severity::Low;
}

PolicyEngine::PolicyEngine(std::shared_ptr<const PolicyDirectory> directory, EngineSettings settings, AlertStore* store)
    : directory_(std::move(directory)), settings_(settings), store_(store), st_(std::make_unique<State>()) {
  st_->track = store_ != nullptr;
  if (store_) saver_ = std::make_unique<DeltaSaver>(*store_);
}

PolicyEngine::~PolicyEngine() { flush(); }

Status PolicyEngine::load() {
  if (!store_) return {};
  auto snap = store_->load();
  if (!snap) return err("loading policy engine state: " + snap.error());
  std::lock_guard lock(mu_);
  auto& st = *st_;
  for (auto& a : snap->alerts) {
    std::uint64_t n = 0;
    if (a.id.size() > 2) n = std::strtoull(a.id.c_str() + 2, nullptr, 10);
    if (n == 0) continue;
    st.next_alert = std::max(st.next_alert, n + 1);
    st.alerts[n] = std::move(a);
  }
  for (auto& s : snap->scopes) {
    auto& sc = st.scopes[{s.scope.policy_id, s.scope.user}];
    sc.u = std::move(s.scope);
    sc.alert_id = std::move(s.alert_id);
    sc.pending = std::move(s.pending);
  }
  for (const auto& c : snap->counts) {
    auto& u = user_state(st, c.user);
    if (c.indicator == "hour") {
      if (c.day >= 0 && c.day < 24) {
        u.hours_total += c.count - u.hours[static_cast<std::size_t>(c.day)];
        u.hours[static_cast<std::size_t>(c.day)] = c.count;
      }
      continue;
    }
    DayCounts* dc = nullptr;
    if (c.indicator == "exfil.bytes") dc = &u.exfil_bytes;
    else if (Ind i = indicator_from_name(c.indicator); i != kNone) dc = &u.counts[i];
    if (!dc) continue;
    dc->add(c.day, c.count, settings_.keep_days);
    u.first_day = std::min(u.first_day, c.day);
    u.last_day = std::max(u.last_day, c.day);
    st.latest_day = std::max(st.latest_day, c.day);
  }
  st.gen = UINT64_MAX;  // user views point into scopes: rebuild
  for (auto& [n, u] : st.users) u.gen = UINT64_MAX;
  return {};
}

void PolicyEngine::prime_history(const std::vector<v1::Event>& events) { process(std::string(), events, false); }

void PolicyEngine::on_events(const std::string& device_id, const std::vector<v1::Event>& events) {
  process(device_id, events, true);
}

void PolicyEngine::on_batch(const std::string& device_id, const v1::EventBatch& batch) {
  process(device_id, batch.events(), true);
}

template <typename Range>
void PolicyEngine::process(const std::string& device_id, const Range& events, bool score) {
  // Backpressure from a store slower than scoring, taken before the state lock so readers of the
  // state never wait for SQLite.
  if (saver_) saver_->wait_for_room();
  std::unique_lock lock(mu_);
  auto& st = *st_;
  const auto& S = settings_;
  const std::uint64_t gen = directory_->generation();
  if (gen != st.gen) reload(st, *directory_, gen);
  const std::int64_t wall = now_ns();
  std::set<std::uint64_t> touched;  // siem: alerts this call raised or updated, for the listener

  for (const v1::Event& e : events) {
    Activity a = read_activity(e);
    if (a.user.empty()) continue;
    const bool indicator = a.indicator != kNone;
    const bool session = e.body_case() == v1::Event::kSession;
    if (!indicator && !session) continue;
    UserState& u = user_state(st, a.user);
    if (u.gen != st.gen) refresh_user(st, u);
    const std::int64_t t = e.time_ns();
    const std::int32_t day = day_of(t);
    const int hour = static_cast<int>(((t + static_cast<std::int64_t>(S.utc_offset_minutes) * 60'000'000'000LL) % kNsPerDay + kNsPerDay) % kNsPerDay / kNsPerHour);
    // Usual hours are judged on history before this event.
    const bool own_hours = u.hours_total >= S.usual_hours_min_events;
    const bool after_hours = own_hours ? static_cast<double>(u.hours[static_cast<std::size_t>(hour)]) <
                                             S.usual_hours_min_share * static_cast<double>(u.hours_total)
                                       : (hour < S.work_start_hour || hour >= S.work_end_hour);
    u.hours[static_cast<std::size_t>(hour)]++;
    u.hours_total++;
    u.first_day = std::min(u.first_day, day);
    u.last_day = std::max(u.last_day, day);
    st.latest_day = std::max(st.latest_day, day);
    st.mark_hour(u, hour);
    if (!indicator) continue;

    u.counts[a.indicator].add(day, 1, S.keep_days);
    st.mark(u, a.indicator, day);
    const bool sensitive = a.has_findings();
    if (sensitive) {
      u.counts[kFileSensitive].add(day, 1, S.keep_days);
      st.mark(u, kFileSensitive, day);
    }
    if (a.exfil_bytes) {
      u.exfil_bytes.add(day, a.exfil_bytes, S.keep_days);
      st.mark(u, -1, day);
    }
    // Sequence: what came before this step, judged before recording it.
    std::string sequence;
    const auto within = [&](Step s) {
      auto last = u.last_step[static_cast<std::size_t>(s)];
      return last != INT64_MIN && last <= t && t - last <= S.sequence_window_ns;
    };
    if (a.step == Step::Exfiltrate) {
      if (within(Step::Collect) && within(Step::Obfuscate)) sequence = "collect -> archive/rename -> exfiltrate";
      else if (within(Step::Obfuscate)) sequence = "archive/rename -> exfiltrate";
      else if (within(Step::Collect)) sequence = "collect -> exfiltrate";
    } else if (a.step == Step::Delete && within(Step::Exfiltrate)) {
      sequence = "exfiltrate -> delete";
    }
    if (a.step != Step::None)
      u.last_step[static_cast<std::size_t>(a.step)] = std::max(u.last_step[static_cast<std::size_t>(a.step)], t);
    if (!score) continue;

    // Triggers that come from the activity itself.
    const DlpRule* dlp = nullptr;
    bool dlp_checked = false;
    for (std::size_t pi = 0; pi < st.policies.size(); ++pi) {
      const PolicyRt& rt = st.policies[pi];
      UserPolicy& up = u.policies[pi];
      if (!up.candidate) continue;
      const bool fires = (rt.trigger == TriggerKind::Security && a.security_violation) ||
                         (rt.trigger == TriggerKind::Dlp && (dlp_checked ? dlp : (dlp_checked = true, dlp = dlp_high_match(st, a))) != nullptr);
      if (fires && (!up.scope || t >= up.scope->u.until_ns || t < up.scope->u.since_ns)) {
        auto& s = st.scopes[{rt.p.id, u.name}];
        const std::int64_t until = t + static_cast<std::int64_t>(rt.p.in_scope_days) * kNsPerDay;
        Trigger trig = rt.trigger == TriggerKind::Dlp
                           ? Trigger{"dlp.high", t, "DLP rule '" + dlp->name + "' matched on " + std::string(a.channel)}
                           : Trigger{"security.violation", t, std::string(indicator_name(a.indicator)) + ": " + activity_summary(e)};
        s.u = UserInScope{u.name, rt.p.id, std::move(trig), t, until, 0};
        s.alert_id.clear();
        s.pending.clear();
        up.scope = &s;
      }
      Scope* sc = up.scope;
      if (!sc || t < sc->u.since_ns || t >= sc->u.until_ns) continue;

      // Score the activity for this policy.
      const Setting& set = rt.ind[a.indicator];
      const Setting& sens = rt.ind[kFileSensitive];
      const bool main_on = set.on && u.counts[a.indicator].on(day) >= set.threshold;
      const bool sens_on = sensitive && sens.on && u.counts[kFileSensitive].on(day) >= sens.threshold;
      if (!main_on && !sens_on) continue;
      ScoredActivity act;
      act.device_id = device_id;
      act.seq = e.seq();
      act.type = e.type();
      act.indicator = indicator_name(a.indicator);
      act.time_ns = t;
      act.summary = activity_summary(e);
      double points = 0;
      if (main_on) {
        points += set.weight;
        act.reasons.emplace_back("base weight of " + act.indicator, set.weight);
      }
      if (sens_on) {
        points += sens.weight;
        std::string types;
        for (const auto& f : *a.findings) types += (types.empty() ? "" : ", ") + f.type() + " x" + std::to_string(f.count());
        act.reasons.emplace_back("sensitive content (" + types + ")", sens.weight);
      }
      auto boost = [&](double mult, std::string why) {
        const double add = points * (mult - 1);
        points += add;
        act.reasons.emplace_back(std::move(why) + " x" + fmt(mult), add);
      };
      // Above the user's own baseline over the historic timespan.
      const DayCounts& dc = u.counts[a.indicator];
      const std::int32_t hist_days = std::min<std::int32_t>(static_cast<std::int32_t>(rt.p.historic_days), day - u.first_day);
      if (hist_days > 0) {
        double mean;
        if (dc.cache_day == day && dc.cache_hist == static_cast<std::uint32_t>(hist_days)) {
          mean = dc.cache_mean;
        } else {
          mean = static_cast<double>(dc.sum(day - hist_days, day)) / hist_days;
          auto& m = const_cast<DayCounts&>(dc);
          m.cache_day = day;
          m.cache_hist = static_cast<std::uint32_t>(hist_days);
          m.cache_mean = mean;
        }
        const double today = static_cast<double>(dc.on(day));
        if (today > std::max(S.baseline_factor * mean, mean + 1))
          boost(S.boost_baseline, "above the user's baseline (" + fmt1(today) + " today vs " + fmt1(mean) + "/day over " +
                                      std::to_string(hist_days) + " days)");
      }
      // Priority content.
      std::string which;
      if (glob_match(rt.p.priority_paths, a.path, which) || glob_match(rt.p.priority_paths, a.source_path, which)) {
        boost(S.boost_priority_content, "priority content (path matches " + which + ")");
      } else if (const std::string* label = priority_label(rt.p.priority_labels, a.labels)) {
        boost(S.boost_priority_content, "priority content (label " + *label + ")");
      } else if (a.has_findings() && !rt.p.priority_info_types.empty()) {
        for (const auto& f : *a.findings)
          if (std::find(rt.p.priority_info_types.begin(), rt.p.priority_info_types.end(), f.type()) != rt.p.priority_info_types.end()) {
            boost(S.boost_priority_content, "priority content (" + f.type() + ")");
            break;
          }
      }
      if (u.priority) {
        std::string groups;
        for (const auto& g : u.priority_groups) groups += (groups.empty() ? "" : ",") + g;
        boost(S.boost_priority_user, "priority user (" + groups + ")");
      }
      if (after_hours) {
        char buf[96];
        if (own_hours) std::snprintf(buf, sizeof buf, "after hours (%02d:00, outside the user's usual hours)", hour);
        else std::snprintf(buf, sizeof buf, "after hours (%02d:00, outside %02d:00-%02d:00)", hour, S.work_start_hour, S.work_end_hour);
        boost(S.boost_after_hours, buf);
      }
      if (!sequence.empty()) boost(S.boost_sequence, "sequence: " + sequence);
      if (a.exfil_bytes) {
        if (wall - st.peer_computed >= S.peer_refresh_ns) {
          recompute_peers(st);
          st.peer_computed = wall;
        }
        const auto mine = u.exfil_bytes.sum(st.latest_day - static_cast<std::int32_t>(S.peer_window_days) + 1, st.latest_day + 1);
        if (st.peer_users > S.peer_min_users && mine >= S.peer_min_bytes &&
            static_cast<double>(mine) > S.peer_factor * static_cast<double>(st.peer_median))
          boost(S.boost_peers, "cumulative exfiltration above peers (" + std::to_string(mine >> 20) + " MiB vs median " +
                                   std::to_string(st.peer_median >> 20) + " MiB over " + std::to_string(S.peer_window_days) + " days)");
      }
      act.score = points;

      // Accumulate into the scope; raise or update the one open alert.
      sc->u.score += points;
      if (st.track) st.dirty_scopes.insert({rt.p.id, u.name});
      Alert* open = nullptr;
      if (!sc->alert_id.empty()) {
        auto it = st.alerts.find(std::strtoull(sc->alert_id.c_str() + 2, nullptr, 10));
        // Only an alert nobody has triaged yet grows (docs/CASES.md "Frozen alerts").
        if (it != st.alerts.end() && it->second.status == AlertStatus::NeedsReview) open = &it->second;
      }
      if (open) {
        auto& list = open->activities;
        const std::uint64_t n = std::strtoull(open->id.c_str() + 2, nullptr, 10);
        std::set<std::uint32_t>* slots = st.track ? &st.dirty_alerts[n] : nullptr;
        if (list.size() < S.max_activities_per_alert) {
          list.push_back(std::move(act));
          if (slots) slots->insert(static_cast<std::uint32_t>(list.size() - 1));
        } else {
          // Full: keep the strongest evidence.
          auto weakest = std::min_element(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.score < y.score; });
          if (weakest->score < act.score) {
            *weakest = std::move(act);
            if (slots) slots->insert(static_cast<std::uint32_t>(weakest - list.begin()));
          }
        }
        open->score += points;
        open->severity = severity_for(open->score, rt.p.min_risk_threshold, S);
        open->updated_ns = wall;
        touched.insert(n);  // siem
        continue;
      }
      if (!sc->alert_id.empty()) {  // the previous alert was triaged (frozen): start afresh
        sc->alert_id.clear();
        sc->u.score = points;
        sc->pending.clear();
      }
      if (sc->pending.size() < S.max_activities_per_alert) sc->pending.push_back(std::move(act));
      // The scope's score counts every scored activity, also those past the list's cap.
      const double pending_score = sc->u.score;
      if (pending_score >= rt.p.min_risk_threshold) {
        const std::uint64_t n = st.next_alert++;
        Alert al;
        al.id = alert_id(n);
        al.policy_id = rt.p.id;
        al.user = u.name;
        al.score = pending_score;
        al.severity = severity_for(pending_score, rt.p.min_risk_threshold, S);
        al.status = AlertStatus::NeedsReview;
        al.detected_ns = al.updated_ns = wall;
        al.trigger = sc->u.trigger;
        al.activities = std::move(sc->pending);
        sc->pending.clear();
        sc->alert_id = al.id;
        if (st.track)
          for (std::uint32_t i = 0; i < al.activities.size(); ++i) st.dirty_alerts[n].insert(i);
        st.alerts.emplace(n, std::move(al));
        touched.insert(n);  // siem
        log::info("policy", "alert raised", {{"alert", alert_id(n)}, {"policy", rt.p.id}, {"user", u.name}});
      }
    }
  }

  // siem: copies taken under the lock, handed to the listener after it is released, so a slow
  // listener (the SIEM outbox writes to disk) never holds up other batches or API reads.
  std::vector<Alert> changed;
  if (alert_listener_)
    for (auto n : touched) changed.push_back(st.alerts.at(n));
  if (store_ && wall - st.last_save >= S.save_interval_ns) save_dirty();
  lock.unlock();
  for (const auto& a : changed) alert_listener_(a);
}

// siem
void PolicyEngine::set_alert_listener(std::function<void(const Alert&)> listener) { alert_listener_ = std::move(listener); }

void PolicyEngine::flush() {
  if (!store_) return;
  {
    std::unique_lock lock(mu_);
    save_dirty();
  }
  saver_->drain();
}

void PolicyEngine::save_dirty() {
  auto& st = *st_;
  st.last_save = now_ns();
  EngineDelta delta;
  for (const auto& key : st.dirty_scopes) {
    auto it = st.scopes.find(key);
    if (it != st.scopes.end()) delta.scopes.push_back({it->second.u, it->second.alert_id, it->second.pending});
  }
  for (const auto& [n, slots] : st.dirty_alerts) {
    const Alert& a = st.alerts.at(n);
    AlertDelta ad;
    // The row without its list (copying the list only to drop it would cost as much as the save).
    ad.alert.id = a.id;
    ad.alert.policy_id = a.policy_id;
    ad.alert.user = a.user;
    ad.alert.severity = a.severity;
    ad.alert.status = a.status;
    ad.alert.detected_ns = a.detected_ns;
    ad.alert.updated_ns = a.updated_ns;
    ad.alert.score = a.score;
    ad.alert.trigger = a.trigger;
    for (auto i : slots)
      if (i < a.activities.size()) ad.slots.emplace_back(i, a.activities[i]);
    delta.alerts.push_back(std::move(ad));
  }
  for (UserState* u : st.dirty_users) {
    for (int h = 0; h < 24; ++h)
      if (u->dirty_hours & (1u << h)) delta.counts.push_back({u->name, "hour", h, u->hours[static_cast<std::size_t>(h)]});
    std::sort(u->dirty_keys.begin(), u->dirty_keys.end());
    u->dirty_keys.erase(std::unique(u->dirty_keys.begin(), u->dirty_keys.end()), u->dirty_keys.end());
    for (auto key : u->dirty_keys) {
      const int ind = static_cast<int>(key >> 32) - 2;
      const auto day = static_cast<std::int32_t>(static_cast<std::uint32_t>(key));
      if (ind == -1) delta.counts.push_back({u->name, "exfil.bytes", day, u->exfil_bytes.on(day)});
      else delta.counts.push_back({u->name, indicator_name(static_cast<Ind>(ind)), day, u->counts[static_cast<std::size_t>(ind)].on(day)});
    }
    u->dirty_keys.clear();
    u->dirty_hours = 0;
    u->listed = false;
  }
  st.dirty_users.clear();
  st.dirty_scopes.clear();
  st.dirty_alerts.clear();
  // Submitted under mu_, so deltas reach the saver in the order they were taken.
  saver_->submit(std::move(delta));
}

// Triage (collector/cases): the status a reviewer decided, saved before returning.
Status PolicyEngine::set_alert_status(const std::string& id, AlertStatus status) {
  std::unique_lock lock(mu_);
  auto& st = *st_;
  std::uint64_t n = 0;
  if (id.size() > 2 && id.compare(0, 2, "a-") == 0) n = std::strtoull(id.c_str() + 2, nullptr, 10);
  auto it = st.alerts.find(n);
  if (n == 0 || it == st.alerts.end()) return err("no alert '" + id + "'");
  if (it->second.status == status) return {};
  it->second.status = status;
  if (st.track) {
    st.dirty_alerts[n];  // the row only; its activities are unchanged
    save_dirty();
    lock.unlock();
    saver_->drain();
  }
  return {};
}

bool PolicyEngine::has_history() const {
  std::lock_guard lock(mu_);
  return !st_->users.empty();
}

std::vector<Alert> PolicyEngine::alerts(const AlertFilter& f) const {
  std::lock_guard lock(mu_);
  std::vector<Alert> out;
  for (auto it = st_->alerts.rbegin(); it != st_->alerts.rend(); ++it) {
    const Alert& a = it->second;
    if (f.status && a.status != *f.status) continue;
    if (f.severity && a.severity != *f.severity) continue;
    if (f.policy_id && a.policy_id != *f.policy_id) continue;
    if (f.user && a.user != *f.user) continue;
    if (f.since_ns && a.updated_ns < *f.since_ns) continue;
    if (f.until_ns && a.updated_ns >= *f.until_ns) continue;
    out.push_back(a);
  }
  return out;
}

std::optional<Alert> PolicyEngine::alert(const std::string& id) const {
  std::lock_guard lock(mu_);
  for (const auto& [n, a] : st_->alerts)
    if (a.id == id) return a;
  return std::nullopt;
}

std::vector<UserInScope> PolicyEngine::users_in_scope(std::int64_t now) const {
  std::lock_guard lock(mu_);
  const std::uint64_t gen = directory_->generation();
  if (gen != st_->gen) reload(*st_, *directory_, gen);
  std::vector<UserInScope> out;
  for (const auto& [key, s] : st_->scopes) {
    if (now < s.u.since_ns || now >= s.u.until_ns) continue;
    bool live = false;  // the policy still exists and is enabled
    for (const auto& p : st_->policies) live = live || p.p.id == key.first;
    if (live) out.push_back(s.u);
  }
  return out;
}

Analytics PolicyEngine::analytics(std::uint32_t days, std::int64_t now) const {
  std::lock_guard lock(mu_);
  Analytics out;
  out.days = days;
  out.min_group = settings_.analytics_min_group;
  const std::int32_t to = day_of(now) + 1, from = to - static_cast<std::int32_t>(days);
  std::array<std::size_t, kIndCount> users{};
  std::array<std::uint64_t, kIndCount> events{};
  for (const auto& [name, u] : st_->users) {
    if (u.last_day < from) continue;
    bool active = false, exfil = false, security = false;
    for (std::size_t i = 0; i < kIndCount; ++i) {
      auto n = u.counts[i].sum(from, to);
      if (!n) continue;
      active = true;
      users[i]++;
      events[i] += n;
      if (i <= kPrintJob) exfil = true;
      if (i >= kSecFirewall && i <= kAgentTamper) security = true;
    }
    if (u.exfil_bytes.sum(from, to)) exfil = true;
    out.active_users += active;
    out.exfil_users += exfil;
    out.security_users += security;
  }
  if (out.active_users < out.min_group) {
    out.suppressed = true;
    out.active_users = out.exfil_users = out.security_users = 0;
    return out;
  }
  for (std::size_t i = 0; i < kIndCount; ++i)
    if (users[i] >= out.min_group) out.top_indicators.push_back({indicator_name(static_cast<Ind>(i)), users[i], events[i]});
  std::sort(out.top_indicators.begin(), out.top_indicators.end(),
            [](const auto& a, const auto& b) { return a.users != b.users ? a.users > b.users : a.events > b.events; });
  if (out.top_indicators.size() > 10) out.top_indicators.resize(10);
  return out;
}

}  // namespace vigil::collector::policy
