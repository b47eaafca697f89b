// Policy engine throughput on one core: events/s through PolicyEngine::on_batch alone (no
// storage, no network), with 1000 users, the eight templates as eight policies, HR triggers for
// 5% of users, 2% priority users, two DLP rules, and a realistic mix over 30 days: most events are
// plain file activity (no indicator), then deletes, copies to removable media and shares, prints,
// archives, bulk summaries, security changes, sessions and the odd tamper; 1% of derived events
// carry classification findings. Each run starts from a fresh engine (state built during the run).
// With a directory as 4th argument the engine also persists its state there (AlertStore, one
// SQLite transaction per batch, synchronous FULL as in the collector): the cost on the feed thread.
// Usage: bench_engine [events, default 2000000] [runs, default 5] [batch events, default 1000] [dir]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "collector/policy/alert_store.h"
#include "collector/policy/engine.h"

using namespace vigil;
using namespace vigil::collector::policy;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
double wall_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kDay = 86400 * kSec;
constexpr std::int64_t kStart = 1772409600LL * kSec;  // 2026-03-02
constexpr int kUsers = 1000;

class BenchDirectory final : public PolicyDirectory {
 public:
  BenchDirectory() {
    const Template all[] = {Template::DataTheftDepartingUsers, Template::GeneralDataLeaks, Template::DataLeaksPriorityUsers,
                            Template::DataLeaksDisgruntledUsers, Template::GeneralSecurityViolations,
                            Template::SecurityViolationsDepartingUsers, Template::SecurityViolationsPriorityUsers,
                            Template::SecurityViolationsDisgruntledUsers};
    int n = 0;
    for (auto t : all) {
      Policy p;
      p.id = "p-" + std::to_string(++n);
      p.name = to_string(t);
      p.tmpl = t;
      p.min_risk_threshold = 50;
      p.priority_paths = {"/srv/finance/*", "/home/*/secret/*"};
      p.priority_info_types = {"us_ssn"};
      const bool security = n >= 5;  // the last four templates are the security ones
      if (!security)
        p.indicators = {{"exfil.removable", true, 10, 1}, {"exfil.network_share", true, 8, 1}, {"print.job", true, 5, 1},
                        {"file.archive_created", true, 5, 1}, {"file.extension_mismatch", true, 8, 1}, {"file.delete", true, 2, 5},
                        {"file.bulk", true, 15, 1}, {"file.sensitive", true, 10, 1}};
      else
        p.indicators = {{"security.firewall", true, 15, 1}, {"security.audit", true, 15, 1}, {"security.lsm", true, 15, 1},
                        {"security.sudoers", true, 10, 1}, {"security.pam", true, 10, 1}, {"security.sshd", true, 5, 1},
                        {"security.screen_lock", true, 3, 1}, {"agent.tamper", true, 20, 1}};
      policies_.push_back(p);
    }
    for (int u = 0; u < kUsers; ++u) {
      const std::string name = "user" + std::to_string(u);
      if (u % 40 == 0) hr_.push_back({name, HrEventKind::Resignation, kStart + 10 * kDay, "", "bench"});
      if (u % 40 == 1) hr_.push_back({name, HrEventKind::PerformanceReview, kStart + 5 * kDay, "", "bench"});
      UserAttributes a{name, "dept" + std::to_string(u % 12), u % 2 ? "EU" : "US", "", {}};
      if (u % 50 == 2) a.priority_groups = {"executives"};
      attrs_.push_back(a);
    }
    rules_.push_back({"r-1", "cards", {{"credit_card", 5}, {"us_ssn", 1}}, {"removable", "network_share"}, Severity::High, true});
    rules_.push_back({"r-2", "emails", {{"email", 10}}, {"any"}, Severity::Medium, true});
  }
  std::vector<Policy> policies() const override { return policies_; }
  std::vector<HrRecord> hr_records() const override { return hr_; }
  std::vector<UserAttributes> user_attributes() const override { return attrs_; }
  std::vector<DlpRule> dlp_rules() const override { return rules_; }
  std::uint64_t generation() const override { return 1; }

 private:
  std::vector<Policy> policies_;
  std::vector<HrRecord> hr_;
  std::vector<UserAttributes> attrs_;
  std::vector<DlpRule> rules_;
};

std::vector<v1::EventBatch> make_batches(std::size_t total, std::size_t per_batch) {
  std::mt19937_64 rng(42);
  std::vector<v1::EventBatch> out;
  const std::int64_t step = 30 * kDay / static_cast<std::int64_t>(total);
  const char* plain[] = {"file.write", "file.create", "file.read", "file.rename"};
  for (std::size_t i = 0; i < total; ++i) {
    if (i % per_batch == 0) out.emplace_back();
    auto* e = out.back().add_events();
    e->set_seq(i + 1);
    e->set_time_ns(kStart + static_cast<std::int64_t>(i) * step);
    const int u = static_cast<int>(rng() % kUsers);
    e->set_user("user" + std::to_string(u));
    const std::string dir = (u % 7 == 0 ? "/srv/finance/q" : "/home/user" + std::to_string(u) + "/work/") + std::to_string(rng() % 50);
    const unsigned r = static_cast<unsigned>(rng() % 1000);
    auto with_findings = [&](v1::Classification* c) {
      if (rng() % 100 != 0) return;  // 1% of derived files hold sensitive data
      c->set_status("scanned");
      auto* f = c->add_findings();
      f->set_type(rng() % 3 == 0 ? "us_ssn" : "credit_card");
      f->set_count(static_cast<std::uint32_t>(rng() % 10 + 1));
    };
    if (r < 700) {  // plain file activity: no indicator
      e->set_type(plain[r % 4]);
      e->mutable_file()->set_path(dir + "/f.txt");
    } else if (r < 800) {
      e->set_type("file.delete");
      e->mutable_file()->set_path(dir + "/f.txt");
    } else if (r < 880 || (r >= 880 && r < 910)) {
      e->set_type(r < 880 ? "exfil.removable" : "exfil.network_share");
      auto* f = e->mutable_file();
      f->set_path("/media/usb/f.txt");
      f->set_source_path(dir + "/f.txt");
      f->set_size(rng() % (4 << 20));
      with_findings(f->mutable_classification());
    } else if (r < 930) {
      e->set_type("print.job");
      auto* p = e->mutable_print();
      p->set_printer("office");
      p->set_title("report.pdf");
      p->set_pages(3);
      p->set_bytes(200000);
    } else if (r < 950) {
      e->set_type(r < 940 ? "file.archive_created" : "file.extension_mismatch");
      auto* f = e->mutable_file();
      f->set_path(dir + "/a.zip");
      with_findings(f->mutable_classification());
    } else if (r < 960) {
      e->set_type("file.bulk");
      auto* b = e->mutable_bulk();
      b->set_operation(r % 2 ? "exfil.removable" : "file.delete");
      b->set_files(500);
      b->set_bytes(50 << 20);
      b->set_common_dir(dir);
    } else if (r < 975) {
      e->set_type("security.changed");
      auto* s = e->mutable_security();
      const char* cats[] = {"firewall", "audit", "lsm", "sudoers", "pam", "sshd", "screen_lock"};
      s->set_category(cats[r % 7]);
      s->set_item("/etc/x");
      s->set_change("state");
      s->set_old_value("running");
      s->set_new_value(rng() % 100 == 0 ? "stopped" : "running");  // 1% of changes switch a protection off
    } else if (r < 999 || rng() % 10 != 0) {  // agent.tamper: 1 in 10,000 events
      e->set_type(r % 2 ? "session.logon" : "session.logoff");
      e->mutable_session()->set_user(e->user());
    } else {
      e->set_type("agent.tamper");
      e->mutable_tamper()->set_what("signalled");
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::size_t per_batch = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000;
  if (total == 0 || runs <= 0 || per_batch == 0) {
    std::fprintf(stderr, "usage: bench_engine [events] [runs] [batch events]\n");
    return 2;
  }
  auto batches = make_batches(total, per_batch);
  auto directory = std::make_shared<BenchDirectory>();
  std::printf("bench_engine: %zu events in batches of %zu, %d users, 8 policies, %d runs (fresh engine each)%s\n", total, per_batch,
              kUsers, runs, argc > 4 ? ", persisting to SQLite" : ", in memory");
  std::vector<double> cpu_rates, wall_rates;
  std::size_t alerts = 0, scoped = 0;
  for (int run = 0; run < runs; ++run) {
    std::unique_ptr<AlertStore> store;
    if (argc > 4) {
      const std::string db = std::string(argv[4]) + "/bench_engine_" + std::to_string(run) + ".db";
      auto opened = AlertStore::open(db);
      if (!opened) {
        std::fprintf(stderr, "bench_engine: %s\n", opened.error().c_str());
        return 1;
      }
      store = std::move(*opened);
    }
    PolicyEngine engine(directory, EngineSettings{}, store.get());
    const double c0 = thread_cpu_s(), w0 = wall_s();
    for (const auto& b : batches) engine.on_batch("dev-1", b);
    engine.flush();  // the last save counts too
    const double cpu = thread_cpu_s() - c0, wall = wall_s() - w0;
    cpu_rates.push_back(static_cast<double>(total) / cpu);
    wall_rates.push_back(static_cast<double>(total) / wall);
    alerts = engine.alerts().size();
    scoped = engine.users_in_scope(kStart + 29 * kDay).size();
    std::printf("run %d: %.3f s CPU, %.3f s wall, %.0f events/s (CPU), %zu alerts, %zu (policy, user) in scope\n", run + 1, cpu, wall,
                cpu_rates.back(), alerts, scoped);
  }
  std::sort(cpu_rates.begin(), cpu_rates.end());
  std::sort(wall_rates.begin(), wall_rates.end());
  const double median = cpu_rates[cpu_rates.size() / 2];
  std::printf("engine events/s per core (median CPU): %.0f  [target 1000000: %s]\n", median, median >= 1e6 ? "met" : "MISSED");
  std::printf("engine events/s (median wall): %.0f\n", wall_rates[wall_rates.size() / 2]);
  return 0;
}
