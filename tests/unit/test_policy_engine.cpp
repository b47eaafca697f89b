// PolicyEngine: triggers, scoring boosts with their reasons, thresholds, severity, grouping, quiet
// users, priority users, directory reloads and hostile names (in-memory directory, real engine).
#include <catch2/catch.hpp>
#include <atomic>
#include <thread>

#include "collector/policy/engine.h"
#include "policy_test_support.h"

using namespace vigil;
using namespace vigil::test;

namespace {

struct Fixture {
  std::shared_ptr<MemoryDirectory> dir = std::make_shared<MemoryDirectory>();
  EngineSettings settings = [] {
    EngineSettings s;
    s.peer_refresh_ns = 0;  // deterministic peer medians
    return s;
  }();
  std::unique_ptr<PolicyEngine> engine;
  PolicyEngine& e() {
    if (!engine) engine = std::make_unique<PolicyEngine>(dir, settings);
    return *engine;
  }
  void feed(std::vector<v1::Event> events) { e().on_events("dev-1", events); }
  std::vector<Alert> alerts_for(const std::string& user) {
    AlertFilter f;
    f.user = user;
    return e().alerts(f);
  }
};

// True when some activity of the alert carries a reason starting with `prefix` worth > 0 points.
bool has_reason(const Alert& a, const std::string& prefix) {
  for (const auto& act : a.activities)
    for (const auto& [why, points] : act.reasons)
      if (why.rfind(prefix, 0) == 0 && points > 0) return true;
  return false;
}

std::vector<v1::Event> copies(const std::string& user, int n, std::int64_t t, const std::string& dir = "/home/u/project") {
  std::vector<v1::Event> out;
  for (int i = 0; i < n; ++i) out.push_back(exfil(user, dir + "/f" + std::to_string(i) + ".c", t + i * kSec));
  return out;
}

}  // namespace

TEST_CASE("departing user copying a project after notice gets a High alert; the same habit without a trigger gets none",
          "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-1", Template::DataTheftDepartingUsers, 20));
  fx.dir->add(HrRecord{"alice", HrEventKind::Resignation, kDay0, "gave notice", "hr.csv:2"});
  // History: alice prints now and then; bob copies 20 files to USB every working day.
  std::vector<v1::Event> history;
  for (int d = 30; d >= 1; --d) {
    auto p = base("alice", "print.job", kDay0 - d * kDay + 10 * kHour);
    p.mutable_print()->set_printer("office");
    history.push_back(p);
    for (auto& c : copies("bob", 20, kDay0 - d * kDay + 10 * kHour)) history.push_back(std::move(c));
  }
  fx.e().prime_history(history);
  REQUIRE(fx.e().alerts().empty());

  // Before her notice alice's copying is out of scope.
  fx.feed(copies("alice", 3, kDay0 - 2 * kDay + 11 * kHour));
  CHECK(fx.alerts_for("alice").empty());

  fx.feed(copies("alice", 20, kDay0 + kDay + 10 * kHour));
  fx.feed(copies("bob", 20, kDay0 + kDay + 10 * kHour));
  auto a = fx.alerts_for("alice");
  REQUIRE(a.size() == 1);
  CHECK(a[0].severity == Severity::High);
  CHECK(a[0].status == AlertStatus::NeedsReview);
  CHECK(a[0].policy_id == "p-1");
  CHECK(a[0].trigger.kind == "hr.resignation");
  CHECK(a[0].activities.size() == 20);
  CHECK(has_reason(a[0], "base weight of exfil.removable"));
  CHECK(has_reason(a[0], "above the user's baseline"));
  double sum = 0;
  for (const auto& act : a[0].activities) {
    double parts = 0;
    for (const auto& r : act.reasons) parts += r.second;
    CHECK(parts == Approx(act.score));  // each score is exactly its explained parts
    sum += act.score;
  }
  CHECK(sum == Approx(a[0].score));
  CHECK(fx.alerts_for("bob").empty());

  auto scope = fx.e().users_in_scope(kDay0 + 2 * kDay);
  REQUIRE(scope.size() == 1);
  CHECK(scope[0].user == "alice");
  CHECK(scope[0].until_ns == kDay0 + 30 * kDay);
  CHECK(scope[0].score == Approx(a[0].score));
}

TEST_CASE("disgruntled user (performance HR rows) disabling the firewall gets a security alert", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-sec", Template::SecurityViolationsDisgruntledUsers, 10));
  fx.dir->add(HrRecord{"dan", HrEventKind::ImprovementPlan, kDay0, "", "hr.csv:3"});
  fx.dir->add(HrRecord{"erin", HrEventKind::Resignation, kDay0, "", "hr.csv:4"});  // departing, not disgruntled
  fx.feed({security("dan", "firewall", "state", "active", "inactive", kDay0 + 3 * kDay + 14 * kHour),
           security("erin", "firewall", "state", "active", "inactive", kDay0 + 3 * kDay + 14 * kHour)});
  auto a = fx.alerts_for("dan");
  REQUIRE(a.size() == 1);
  CHECK(a[0].trigger.kind == "hr.performance");
  CHECK(a[0].activities.at(0).indicator == "security.firewall");
  CHECK(has_reason(a[0], "base weight of security.firewall"));
  CHECK(fx.alerts_for("erin").empty());
}

TEST_CASE("a High DLP match brings a user into general data leaks; Medium rules and small counts do not", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-leak", Template::GeneralDataLeaks, 20));
  fx.dir->add(DlpRule{"r-1", "cards to USB", {{"credit_card", 5}}, {"removable"}, Severity::High, true});
  fx.dir->add(DlpRule{"r-2", "emails anywhere", {{"email", 1}}, {"any"}, Severity::Medium, true});
  const std::int64_t t = kDay0 + 10 * kHour;
  // Quiet users: copies without findings, too few cards, a medium match.
  fx.feed({exfil("quiet", "/home/q/a.txt", t), exfil("few", "/home/f/cards.csv", t, 1 << 20, "exfil.removable", {{"credit_card", 2}}),
           exfil("mail", "/home/m/list.csv", t, 1 << 20, "exfil.removable", {{"email", 50}})});
  CHECK(fx.e().alerts().empty());
  CHECK(fx.e().users_in_scope(t + kHour).empty());
  // The match on the wrong channel does not trigger either.
  fx.feed({exfil("gina", "/srv/cards.csv", t, 1 << 20, "exfil.network_share", {{"credit_card", 9}})});
  CHECK(fx.e().users_in_scope(t + kHour).empty());
  fx.feed({exfil("gina", "/srv/cards.csv", t + kSec, 1 << 20, "exfil.removable", {{"credit_card", 9}})});
  auto a = fx.alerts_for("gina");
  REQUIRE(a.size() == 1);
  CHECK(a[0].trigger.kind == "dlp.high");
  CHECK(a[0].trigger.detail.find("cards to USB") != std::string::npos);
  CHECK(has_reason(a[0], "sensitive content (credit_card x9)"));
  auto scope = fx.e().users_in_scope(t + kHour);
  REQUIRE(scope.size() == 1);
  CHECK(scope[0].trigger.kind == "dlp.high");
}

TEST_CASE("a security violation triggers general security policies; an ordinary config edit does not", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 30));
  const std::int64_t t = kDay0 + 10 * kHour;
  fx.feed({security("admin1", "sudoers", "modified", "", "", t), security("admin1", "sshd", "modified", "", "", t + kSec)});
  CHECK(fx.e().alerts().empty());
  fx.feed({tamper("mallory", t), security("mallory", "audit", "state", "running", "stopped", t + kSec)});
  auto a = fx.alerts_for("mallory");
  REQUIRE(a.size() == 1);
  CHECK(a[0].trigger.kind == "security.violation");
  CHECK(a[0].activities.size() == 2);
  CHECK(a[0].score == Approx(35));
  CHECK(a[0].severity == Severity::Low);
}

TEST_CASE("a priority user's smaller leak still alerts; the same leak by others does not", "[policy_engine]") {
  Fixture fx;
  auto p = make_policy("p-prio", Template::DataLeaksPriorityUsers, 12);
  p.groups = {"executives"};
  fx.dir->add(p);
  fx.dir->add(UserAttributes{"carol", "Board", "EU", "", {"executives"}});
  fx.dir->add(UserAttributes{"dave", "Sales", "EU", "", {}});
  fx.dir->add(UserAttributes{"ivan", "IT", "EU", "", {"admins"}});
  const std::int64_t t = kDay0 + 11 * kHour;
  fx.feed({exfil("carol", "/home/carol/plan.pdf", t), exfil("dave", "/home/dave/plan.pdf", t), exfil("ivan", "/home/ivan/plan.pdf", t)});
  auto a = fx.alerts_for("carol");
  REQUIRE(a.size() == 1);
  CHECK(a[0].trigger.kind == "priority_user");
  CHECK(has_reason(a[0], "priority user (executives)"));
  CHECK(a[0].score == Approx(15));
  CHECK(fx.alerts_for("dave").empty());
  CHECK(fx.alerts_for("ivan").empty());
  auto scope = fx.e().users_in_scope(t);
  REQUIRE(scope.size() == 1);
  CHECK(scope[0].user == "carol");
  CHECK(scope[0].until_ns == INT64_MAX);
}

TEST_CASE("boosts: priority content, after hours, sequence and peers each explain their contribution", "[policy_engine]") {
  Fixture fx;
  auto p = make_policy("p-1", Template::DataTheftDepartingUsers, 5);
  p.priority_paths = {"/srv/secret/*"};
  p.priority_info_types = {"us_ssn"};
  fx.dir->add(p);
  fx.dir->add(HrRecord{"alice", HrEventKind::LastWorkingDate, kDay0, "", "hr.csv:2"});
  const std::int64_t t = kDay0 + kDay;

  SECTION("priority content by path and by info type") {
    fx.feed({exfil("alice", "/srv/secret/design.doc", t + 10 * kHour)});
    fx.feed({exfil("alice", "/home/alice/people.csv", t + 10 * kHour + kSec, 100, "exfil.removable", {{"us_ssn", 3}})});
    auto a = fx.alerts_for("alice");
    REQUIRE(a.size() == 1);
    REQUIRE(a[0].activities.size() == 2);
    CHECK(a[0].activities[0].reasons.at(1).first == "priority content (path matches /srv/secret/*) x2");
    CHECK(a[0].activities[0].reasons.at(1).second == Approx(10));
    CHECK(has_reason(a[0], "priority content (us_ssn)"));
  }
  SECTION("after hours (default working hours, then the user's own)") {
    fx.feed({exfil("alice", "/home/alice/a", t + 22 * kHour)});
    auto a = fx.alerts_for("alice");
    REQUIRE(a.size() == 1);
    CHECK(a[0].activities[0].reasons.at(1).first == "after hours (22:00, outside 08:00-18:00) x1.5");
    CHECK(a[0].activities[0].score == Approx(15));
    // A night-shift worker's nights are usual for them once there is enough history.
    std::vector<v1::Event> nights;
    for (int d = 60; d >= 1; --d) {
      auto s = base("nina", "session.logon", kDay0 - d * kDay + 23 * kHour);
      s.mutable_session()->set_user("nina");
      nights.push_back(s);
    }
    fx.e().prime_history(nights);
    fx.dir->add(HrRecord{"nina", HrEventKind::Resignation, kDay0, "", "hr.csv:9"});
    fx.feed({exfil("nina", "/home/nina/a", t + 23 * kHour), exfil("nina", "/home/nina/b", t + 13 * kHour)});
    auto n = fx.alerts_for("nina");
    REQUIRE(n.size() == 1);
    REQUIRE(n[0].activities.size() == 2);
    CHECK(n[0].activities[0].reasons.size() == 1);  // 23:00 is her usual time
    bool unusual = false;
    for (const auto& r : n[0].activities[1].reasons) unusual |= r.first == "after hours (13:00, outside the user's usual hours) x1.5";
    CHECK(unusual);
  }
  SECTION("sequence: archive -> exfiltrate -> delete") {
    fx.feed({file_event("alice", "file.archive_created", "/tmp/p.zip", t + 10 * kHour),
             exfil("alice", "/tmp/p.zip", t + 10 * kHour + 60 * kSec),
             file_event("alice", "file.delete", "/tmp/p.zip", t + 10 * kHour + 120 * kSec)});
    auto a = fx.alerts_for("alice");
    REQUIRE(a.size() == 1);
    REQUIRE(a[0].activities.size() == 3);
    CHECK(a[0].activities[0].reasons.size() == 1);
    CHECK(a[0].activities[1].reasons.at(1).first == "sequence: archive/rename -> exfiltrate x2");
    CHECK(a[0].activities[2].reasons.at(1).first == "sequence: exfiltrate -> delete x2");
    // Outside the window there is no sequence.
    fx.feed({file_event("alice", "file.delete", "/tmp/old.zip", t + 3 * kDay + 10 * kHour)});
    auto b = fx.alerts_for("alice");
    CHECK(b[0].activities.back().reasons.size() == 1);
  }
  SECTION("cumulative exfiltration well above peers") {
    std::vector<v1::Event> peers;
    for (const char* u : {"p1", "p2", "p3", "p4", "p5"}) peers.push_back(exfil(u, "/x", t + 9 * kHour, 2 << 20));
    fx.e().prime_history(peers);
    fx.feed({exfil("alice", "/home/alice/big.iso", t + 10 * kHour, 200ULL << 20)});
    auto a = fx.alerts_for("alice");
    REQUIRE(a.size() == 1);
    CHECK(has_reason(a[0], "cumulative exfiltration above peers (200 MiB vs median 2 MiB"));
    // An ordinary amount is not.
    fx.dir->add(HrRecord{"p1", HrEventKind::Resignation, kDay0, "", "hr.csv:5"});
    fx.feed({exfil("p1", "/y", t + 11 * kHour, 2 << 20)});
    auto b = fx.alerts_for("p1");
    REQUIRE(b.size() == 1);
    CHECK_FALSE(has_reason(b[0], "cumulative exfiltration"));
  }
}

TEST_CASE("priority content by sensitivity label, whatever its case", "[policy_engine]") {
  Fixture fx;
  auto p = make_policy("p-1", Template::DataTheftDepartingUsers, 5);
  p.priority_labels = {"Highly Confidential"};
  fx.dir->add(p);
  fx.dir->add(HrRecord{"bob", HrEventKind::LastWorkingDate, kDay0, "", "hr.csv:3"});
  const std::int64_t t = kDay0 + kDay;
  auto labelled = exfil("bob", "/home/bob/plan.odt", t + 10 * kHour);
  labelled.mutable_file()->add_labels("Public");
  labelled.mutable_file()->add_labels("highly confidential");
  auto unlabelled = exfil("bob", "/home/bob/menu.odt", t + 10 * kHour + kSec);
  unlabelled.mutable_file()->add_labels("Public");
  fx.feed({labelled, unlabelled});
  auto a = fx.alerts_for("bob");
  REQUIRE(a.size() == 1);
  REQUIRE(a[0].activities.size() == 2);
  REQUIRE(a[0].activities[0].reasons.size() >= 2);
  CHECK(a[0].activities[0].reasons.at(1).first == "priority content (label Highly Confidential) x2");
  CHECK(a[0].activities[1].reasons.size() == 1);
}

TEST_CASE("indicator thresholds, the policy's risk threshold and severity bands", "[policy_engine]") {
  Fixture fx;
  auto p = make_policy("p-1", Template::DataTheftDepartingUsers, 25);
  for (auto& i : p.indicators)
    if (i.id == "exfil.removable") i.threshold = 3;  // the first two a day do not score
  fx.dir->add(p);
  fx.dir->add(HrRecord{"alice", HrEventKind::Resignation, kDay0, "", "hr.csv:2"});
  const std::int64_t t = kDay0 + kDay + 10 * kHour;
  fx.feed(copies("alice", 2, t));
  CHECK(fx.e().alerts().empty());
  CHECK(fx.e().users_in_scope(t)[0].score == 0);
  fx.feed(copies("alice", 2, t + kHour));  // 3rd and 4th: 10 + 10 = 20 < 25
  CHECK(fx.e().alerts().empty());
  fx.feed(copies("alice", 1, t + 2 * kHour));
  auto a = fx.alerts_for("alice");
  REQUIRE(a.size() == 1);
  CHECK(a[0].score == Approx(30));
  CHECK(a[0].severity == Severity::Low);
  CHECK(a[0].activities.size() == 3);  // the ones that scored, with the one that crossed
  CHECK(severity_for(49.9, 25, fx.settings) == Severity::Low);
  CHECK(severity_for(50, 25, fx.settings) == Severity::Medium);
  CHECK(severity_for(100, 25, fx.settings) == Severity::High);
}

TEST_CASE("later activity updates the one open alert instead of raising more", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-1", Template::DataTheftDepartingUsers, 20));
  fx.dir->add(HrRecord{"alice", HrEventKind::Resignation, kDay0, "", "hr.csv:2"});
  const std::int64_t t = kDay0 + kDay + 10 * kHour;
  fx.feed(copies("alice", 2, t));
  auto first = fx.alerts_for("alice");
  REQUIRE(first.size() == 1);
  CHECK(first[0].severity == Severity::Low);
  for (int burst = 1; burst <= 10; ++burst) fx.feed(copies("alice", 5, t + burst * kHour, "/home/a/b" + std::to_string(burst)));
  auto later = fx.alerts_for("alice");
  REQUIRE(later.size() == 1);
  CHECK(later[0].id == first[0].id);
  CHECK(later[0].detected_ns == first[0].detected_ns);
  CHECK(later[0].updated_ns >= first[0].updated_ns);
  CHECK(later[0].activities.size() == 52);
  CHECK(later[0].score > first[0].score);
  CHECK(later[0].severity == Severity::High);
}

TEST_CASE("policies added later apply to the next events (directory generation)", "[policy_engine]") {
  Fixture fx;
  const std::int64_t t = kDay0 + 10 * kHour;
  fx.feed({tamper("mallory", t)});
  CHECK(fx.e().alerts().empty());
  fx.dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
  fx.feed({tamper("mallory", t + kSec)});
  CHECK(fx.alerts_for("mallory").size() == 1);
}

TEST_CASE("hostile user names are recorded faithfully; events without a user are ignored", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
  const std::string hostile = std::string("ev\nil\xff\xfe") + std::string(4096, 'x');
  const std::int64_t t = kDay0 + 10 * kHour;
  v1::Event empty;  // no type, no body, no user
  v1::Event no_body = base("x", "security.changed", t);
  fx.feed({empty, no_body, tamper("", t), tamper(hostile, t)});
  auto all = fx.e().alerts();
  REQUIRE(all.size() == 1);
  CHECK(all[0].user == hostile);
}

TEST_CASE("on_events is safe to call from several threads while the API reads", "[policy_engine]") {
  Fixture fx;
  fx.dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 1000000));
  fx.e();
  const std::int64_t t = kDay0 + 10 * kHour;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      (void)fx.e().alerts();
      (void)fx.e().users_in_scope(t);
      (void)fx.e().analytics(30, t);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < 200; ++i) fx.e().on_events("dev-" + std::to_string(w), {tamper("user" + std::to_string(w * 1000 + i % 10), t + i)});
    });
  for (auto& th : writers) th.join();
  done = true;
  reader.join();
  auto scope = fx.e().users_in_scope(t + kHour);
  REQUIRE(scope.size() == 20);
  double total = 0;
  for (const auto& s : scope) total += s.score;
  CHECK(total == Approx(400 * 20));  // every tamper scored exactly once
}
