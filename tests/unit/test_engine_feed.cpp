// Ingest -> policy engine wiring: a batch committed by the real BatchWriter (real SQLite store)
// reaches the engine through EngineFeed and raises its alert within 5 s of the submission; the
// duplicate of a stored batch is not evaluated twice; the ack is not held up by the engine.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "collector/ingest/batch_writer.h"
#include "collector/policy/engine_feed.h"
#include "collector/policy/history_loader.h"
#include "collector/store/sqlite_event_store.h"
#include "policy_test_support.h"
#include "shared/batch_codec.h"
#include "shared/time_util.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;

TEST_CASE("committed batches reach the policy engine and raise alerts within 5 s", "[engine_feed]") {
  TempDir tmp;
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store);
  auto dir = std::make_shared<MemoryDirectory>();
  dir->add(make_policy("p-gsec", Template::GeneralSecurityViolations, 10));
  PolicyEngine engine(dir);
  EngineFeed feed(engine);
  BatchWriter writer(**store, 64, [&feed](const std::string& device, std::shared_ptr<const v1::EventBatch> b) {
    feed.push(device, std::move(b));
  });

  auto batch = std::make_shared<v1::EventBatch>();
  batch->set_schema_version(1);
  batch->set_device_id("dev-1");
  batch->set_first_seq(1);
  batch->set_last_seq(2);
  const std::int64_t t = now_ns();
  *batch->add_events() = tamper("mallory", t);
  *batch->add_events() = security("mallory", "lsm", "state", "enforce", "permissive", t + 1);
  batch->mutable_events(0)->set_seq(1);
  batch->mutable_events(1)->set_seq(2);
  const std::string payload = encode_batch(*batch);

  auto submit = [&] {
    auto done = std::make_shared<std::promise<AppendOutcome>>();
    auto fut = done->get_future();
    writer.submit({"dev-1", batch, payload, [done](Result<AppendResult> r) {
                     done->set_value(r ? r->outcome : AppendOutcome::Rejected);
                   }});
    return fut;
  };
  const auto start = std::chrono::steady_clock::now();
  auto first = submit();
  REQUIRE(first.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(first.get() == AppendOutcome::Stored);
  bool raised = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5) && !raised) {
    raised = !engine.alerts().empty();
    if (!raised) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(raised);
  auto a = engine.alerts();
  REQUIRE(a.size() == 1);
  CHECK(a[0].activities.size() == 2);
  CHECK(a[0].activities[0].device_id == "dev-1");
  CHECK(a[0].activities[0].seq == 1);

  // The agent resends (no ack seen): stored once, evaluated once.
  auto again = submit();
  REQUIRE(again.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(again.get() == AppendOutcome::Duplicate);
  feed.drain();
  CHECK(engine.alerts().at(0).activities.size() == 2);
  writer.stop();
  feed.stop();
}

TEST_CASE("a new engine is primed from the event store: a policy created today scores yesterday's context",
          "[engine_feed]") {
  TempDir tmp;
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store);
  const std::int64_t now = now_ns();
  // Ten days of one copy a day by alice, stored before the engine ever ran.
  v1::EventBatch b;
  b.set_schema_version(1);
  b.set_device_id("dev-1");
  b.set_first_seq(1);
  b.set_last_seq(10);
  for (int d = 10; d >= 1; --d) {
    auto* e = b.add_events();
    *e = exfil("alice", "/h/old" + std::to_string(d), now - d * kDay);
    e->set_seq(static_cast<std::uint64_t>(11 - d));
  }
  const std::string payload = encode_batch(b);
  IncomingBatch in{"dev-1", &b, payload};
  REQUIRE((*store)->append_batches(std::span<const IncomingBatch>(&in, 1), now));

  auto dir = std::make_shared<MemoryDirectory>();
  PolicyEngine engine(dir);
  CHECK_FALSE(engine.has_history());
  auto primed = prime_from_store(engine, **store, now, 90, 1000);
  REQUIRE(primed);
  CHECK(*primed == 10);
  CHECK(engine.has_history());
  CHECK(engine.alerts().empty());  // history is never scored

  // Today a departing-users policy is created; alice resigned yesterday and copies 3 files.
  dir->add(make_policy("p-1", Template::DataTheftDepartingUsers, 20));
  dir->add(HrRecord{"alice", HrEventKind::Resignation, now - kDay, "", "hr.csv:2"});
  engine.on_events("dev-1", {exfil("alice", "/h/a", now), exfil("alice", "/h/b", now + 1), exfil("alice", "/h/c", now + 2)});
  auto a = engine.alerts();
  REQUIRE(a.size() == 1);
  bool above = false;
  for (const auto& r : a[0].activities.back().reasons) above |= r.first.rfind("above the user's baseline (3.0 today vs 1.0/day over 10 days)", 0) == 0;
  CHECK(above);
}
