// What the case tests share: a real SQLite event store fed through the recorded-activity import
// (so the engine's alerts point at stored events), a policy engine with a departing-user policy,
// a case service on a real cases.db, and a Mailer that keeps what it was asked to send.
#pragma once
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "collector/cases/case_service.h"
#include "collector/ingest/recorded_import.h"
#include "collector/store/sqlite_event_store.h"
#include "policy_test_support.h"
#include "shared/time_util.h"
#include "test_support.h"

namespace vigil::test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

struct KeptMail final : collector::cases::Mailer {
  mutable std::mutex mu;
  mutable std::vector<collector::cases::MailMessage> sent;
  Status send(const collector::cases::MailMessage& m) const override {
    std::lock_guard l(mu);
    sent.push_back(m);
    return {};
  }
};

// n removable copies by `user`, `hours_ago` hours back, each with a card-number finding.
inline std::string usb_copies(const std::string& user, int n, int hours_ago) {
  std::ostringstream o;
  const std::int64_t t0 = now_ns() - static_cast<std::int64_t>(hours_ago) * kHour;
  for (int i = 0; i < n; ++i) {
    o << R"({"type": "exfil.removable", "time": ")" << format_rfc3339(t0 + i * kSec, 3) << R"(", "user": ")" << user
      << R"(", "file": {"path": "/media/usb/)" << user << "-" << i << (i % 2 ? ".pdf" : ".docx") << R"(", "size": ")"
      << (1000 + i) << R"(", "sha256": ")" << std::string(63, 'a') << i % 10 << R"(", "content_type": ")"
      << (i % 2 ? "pdf" : "docx") << R"(", "source_path": "/home/)" << user << "/doc-" << i
      << R"(", "volume": {"mount_point": "/media/usb", "label": "STICK", "removable": true}, )"
      << R"("classification": {"status": "scanned", "findings": [{"type": "credit_card", "count": 3, "confidence": "high"}]}}})"
      << "\n";
  }
  return o.str();
}

struct CaseFixture {
  TempDir tmp{"vigil-cases"};
  std::unique_ptr<collector::EventStore> store;
  std::shared_ptr<MemoryDirectory> dir = std::make_shared<MemoryDirectory>();
  std::unique_ptr<collector::policy::PolicyEngine> engine;
  std::unique_ptr<collector::RecordedImport> importer;
  std::unique_ptr<collector::cases::CaseService> service;
  KeptMail* mail = nullptr;

  explicit CaseFixture(std::unique_ptr<collector::cases::Mailer> mailer = std::make_unique<KeptMail>()) {
    using namespace collector::policy;
    auto s = collector::open_sqlite_event_store(tmp.file("vigil.db"));
    REQUIRE(s);
    store = std::move(*s);
    dir->add(make_policy("p-dep", Template::DataTheftDepartingUsers, 10));
    const std::int64_t now = now_ns();
    for (const char* u : {"alice", "bob"}) dir->add(HrRecord{u, HrEventKind::Resignation, now - 5 * kDay, "", "hr.csv"});
    dir->add(UserAttributes{"alice", "Sales", "EU", "", {}, "alice@example.com"});
    engine = std::make_unique<PolicyEngine>(dir);
    importer = std::make_unique<collector::RecordedImport>(
        *store, [this](const std::string& dev, std::shared_ptr<const v1::EventBatch> b) { engine->on_batch(dev, *b); });
    auto cs = collector::cases::CaseStore::open(tmp.file("cases.db"));
    REQUIRE(cs);
    mail = dynamic_cast<KeptMail*>(mailer.get());
    service = std::make_unique<collector::cases::CaseService>(std::move(*cs), *engine, *store, dir, tmp.file("exports"),
                                                              std::move(mailer));
  }
  void import(const std::string& source, const std::string& jsonl) {
    auto r = importer->import(source, jsonl, now_ns());
    INFO((r ? "" : r.error()));
    REQUIRE(r);
  }
  std::string alert_of(const std::string& user) {
    for (const auto& a : engine->alerts())
      if (a.user == user && a.status == collector::policy::AlertStatus::NeedsReview) return a.id;
    FAIL("no open alert for " << user);
    return "";
  }
};

}  // namespace vigil::test
