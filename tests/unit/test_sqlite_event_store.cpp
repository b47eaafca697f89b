// SQLite EventStore against a real database in a temporary directory.
#include <catch2/catch.hpp>
#include <fnmatch.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector;

namespace {

constexpr std::int64_t kDay = 86'400'000'000'000;
constexpr std::int64_t kT0 = 1'700'000'000'000'000'000;  // 2023-11-14, mid-day UTC

// A temporary directory for one store's database file.
struct StoreDir : test::TempDir {
  std::string db() const { return file("vigil.db"); }
};

std::unique_ptr<EventStore> open_store(const std::string& path) {
  auto s = open_sqlite_event_store(path);
  INFO((s.ok() ? std::string() : s.error()));
  REQUIRE(s.ok());
  return std::move(s).value();
}

// A batch as the agent spools it, plus the view the ingest path hands to the store.
struct Owned {
  std::string device;
  v1::EventBatch batch;
  std::string payload;
  IncomingBatch view() const { return IncomingBatch{device, &batch, payload}; }
};

using EventFn = std::function<void(v1::Event&, std::uint64_t seq)>;

Owned make_batch(const std::string& device, std::uint64_t first, std::uint64_t last, const EventFn& fill = {}) {
  Owned o;
  o.device = device;
  o.batch.set_schema_version(1);
  o.batch.set_device_id(device);
  o.batch.set_first_seq(first);
  o.batch.set_last_seq(last);
  for (std::uint64_t s = first; s <= last; ++s) {
    auto* e = o.batch.add_events();
    e->set_seq(s);
    e->set_time_ns(kT0 + static_cast<std::int64_t>(s) * 1'000'000'000);
    e->set_type("file.write");
    e->set_user("alice");
    e->mutable_file()->set_path("/home/alice/f" + std::to_string(s));
    if (fill) fill(*e, s);
  }
  o.payload = encode_batch(o.batch);
  return o;
}

std::vector<AppendResult> append(EventStore& store, const std::vector<const Owned*>& batches,
                                 std::int64_t now = kT0) {
  std::vector<IncomingBatch> in;
  for (const auto* b : batches) in.push_back(b->view());
  auto r = store.append_batches(in, now);
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return std::move(r).value();
}

AppendOutcome append_one(EventStore& store, const Owned& b, std::int64_t now = kT0) {
  return append(store, {&b}, now).at(0).outcome;
}

std::vector<StoredEvent> query(EventStore& store, const EventQuery& q) {
  auto r = store.query_events(q);
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("a batch is stored once; a replay is a duplicate and an overlap is rejected", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());

  auto b1 = make_batch("dev-1", 1, 10);
  CHECK(append_one(*store, b1) == AppendOutcome::Stored);
  CHECK(append_one(*store, b1) == AppendOutcome::Duplicate);

  auto longer = make_batch("dev-1", 1, 12);
  auto res = append(*store, {&longer});
  CHECK(res[0].outcome == AppendOutcome::Rejected);
  CHECK(res[0].reason.find("1..10") != std::string::npos);

  auto inside = make_batch("dev-1", 5, 15);
  res = append(*store, {&inside});
  CHECK(res[0].outcome == AppendOutcome::Rejected);
  CHECK(res[0].reason.find("overlap") != std::string::npos);

  auto b3 = make_batch("dev-1", 31, 40);
  CHECK(append_one(*store, b3) == AppendOutcome::Stored);
  auto before_b3 = make_batch("dev-1", 25, 31);  // overlaps the batch that follows it
  res = append(*store, {&before_b3});
  CHECK(res[0].outcome == AppendOutcome::Rejected);
  CHECK(res[0].reason.find("31..40") != std::string::npos);
  auto spanning = make_batch("dev-1", 11, 50);  // swallows 31..40 whole
  CHECK(append_one(*store, spanning) == AppendOutcome::Rejected);

  // The same seqs from another device are that device's own.
  auto other = make_batch("dev-2", 1, 10);
  CHECK(append_one(*store, other) == AppendOutcome::Stored);

  // Within one call: the second copy sees the first.
  auto b2 = make_batch("dev-1", 11, 30);
  res = append(*store, {&b2, &b2, &b1});
  CHECK(res[0].outcome == AppendOutcome::Stored);
  CHECK(res[1].outcome == AppendOutcome::Duplicate);
  CHECK(res[2].outcome == AppendOutcome::Duplicate);

  auto cov = store->seq_coverage("dev-1");
  REQUIRE(cov.ok());
  CHECK(cov->events == 40);
  CHECK(cov->highest_seq == 40);
  CHECK(cov->gaps.empty());
  auto dev = store->find_device("dev-1");
  REQUIRE(dev.ok());
  REQUIRE(dev->has_value());
  CHECK((*dev)->events_received == 40);
  CHECK((*dev)->batches_received == 3);
  CHECK(query(*store, EventQuery{.device_id = "dev-1"}).size() == 40);
}

TEST_CASE("a batch the ingest path did not decode is rejected, not stored", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  auto b = make_batch("dev-1", 1, 3);
  IncomingBatch in{"dev-1", nullptr, b.payload};
  auto r = store->append_batches(std::span(&in, 1), kT0);
  REQUIRE(r.ok());
  CHECK((*r)[0].outcome == AppendOutcome::Rejected);
  in = IncomingBatch{"", &b.batch, b.payload};
  r = store->append_batches(std::span(&in, 1), kT0);
  REQUIRE(r.ok());
  CHECK((*r)[0].outcome == AppendOutcome::Rejected);
  CHECK(store->seq_coverage("dev-1")->events == 0);
}

TEST_CASE("an append call that fails part-way stores none of its batches", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  // Make the third batch's insert fail, from outside, the way a full disk would fail a write.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw,
                       "CREATE TRIGGER fail_third BEFORE INSERT ON batches WHEN NEW.first_seq = 21 "
                       "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  auto a = make_batch("dev-1", 1, 10), b = make_batch("dev-1", 11, 20), c = make_batch("dev-1", 21, 30);
  std::vector<IncomingBatch> in{a.view(), b.view(), c.view()};
  auto r = store->append_batches(in, kT0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "sqlite: insert batch: injected failure");
  CHECK(store->seq_coverage("dev-1")->events == 0);
  CHECK_FALSE(store->find_device("dev-1")->has_value());  // counters rolled back with the batches
  CHECK(query(*store, EventQuery{}).empty());

  REQUIRE(sqlite3_exec(raw, "DROP TRIGGER fail_third", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  auto again = store->append_batches(in, kT0);  // the agent resends the same window
  REQUIRE(again.ok());
  for (const auto& res : *again) CHECK(res.outcome == AppendOutcome::Stored);
  CHECK((*store->find_device("dev-1"))->events_received == 30);
}

TEST_CASE("everything committed over many transactions is there after reopening", "[store]") {
  StoreDir dir;
  const std::vector<std::string> devices{"dev-a", "dev-b", "dev-c"};
  std::uint64_t total = 0;
  {
    auto store = open_store(dir.db());
    std::map<std::string, std::uint64_t> next{{"dev-a", 1}, {"dev-b", 1}, {"dev-c", 1}};
    for (int call = 0; call < 150; ++call) {
      std::vector<Owned> owned;
      for (int i = 0; i < 4; ++i) {
        const auto& d = devices[(call + i) % devices.size()];
        std::uint64_t n = 5 + (call * 7 + i) % 20;
        owned.push_back(make_batch(d, next[d], next[d] + n - 1));
        next[d] += n;
        total += n;
      }
      std::vector<const Owned*> ptrs;
      for (auto& o : owned) ptrs.push_back(&o);
      for (const auto& r : append(*store, ptrs, kT0 + call)) REQUIRE(r.outcome == AppendOutcome::Stored);
    }
  }
  auto store = open_store(dir.db());
  auto all = query(*store, EventQuery{.limit = 1'000'000});
  CHECK(all.size() == total);
  std::uint64_t covered = 0;
  for (const auto& d : devices) {
    auto cov = store->seq_coverage(d);
    REQUIRE(cov.ok());
    CHECK(cov->gaps.empty());
    covered += cov->events;
    auto dev = store->find_device(d);
    REQUIRE(dev.ok());
    REQUIRE(dev->has_value());
    CHECK((*dev)->events_received == cov->events);
    CHECK((*dev)->highest_seq == cov->highest_seq);
    CHECK((*dev)->batches_received == 200);
    CHECK((*dev)->first_seen_ns == kT0);
    CHECK((*dev)->last_seen_ns == kT0 + 149);
  }
  CHECK(covered == total);
  // Replaying after the restart is still harmless.
  auto again = make_batch("dev-a", 1, 5);  // dev-a's first batch, exactly
  CHECK(append_one(*store, again) == AppendOutcome::Duplicate);
  auto part = make_batch("dev-a", 1, 3);
  CHECK(append_one(*store, part) == AppendOutcome::Rejected);
}

TEST_CASE("device counters move with the batches, including reported losses", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  DeviceRecord rec;
  rec.device_id = "dev-1";
  rec.hostname = "laptop-7";
  rec.os = "debian 12";
  rec.agent_version = "0.1.0";
  rec.enrolled_ns = kT0 - 1000;
  REQUIRE(store->register_device(rec).ok());
  auto d = store->find_device("dev-1");
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  CHECK((*d)->first_seen_ns == 0);
  CHECK((*d)->status == "active");

  REQUIRE(store->device_hello("dev-1", "laptop-7b", "debian 12.5", "0.2.0", kT0 + 5).ok());
  auto with_loss = make_batch("dev-1", 1, 10, [](v1::Event& e, std::uint64_t seq) {
    if (seq == 3 || seq == 8) {
      e.set_type("agent.loss");
      e.clear_file();
      e.mutable_loss()->set_events(seq == 3 ? 100 : 25);
      e.mutable_loss()->set_reason("spool_bytes_cap");
    }
  });
  auto more = make_batch("dev-1", 11, 14);
  auto res = append(*store, {&with_loss, &more}, kT0 + 10);
  CHECK(res[0].outcome == AppendOutcome::Stored);
  CHECK(res[1].outcome == AppendOutcome::Stored);
  CHECK(append_one(*store, with_loss, kT0 + 20) == AppendOutcome::Duplicate);  // counts nothing twice

  d = store->find_device("dev-1");
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  const DeviceRecord& got = **d;
  CHECK(got.hostname == "laptop-7b");
  CHECK(got.os == "debian 12.5");
  CHECK(got.agent_version == "0.2.0");
  CHECK(got.enrolled_ns == kT0 - 1000);
  CHECK(got.first_seen_ns == kT0 + 5);
  CHECK(got.last_seen_ns == kT0 + 20);
  CHECK(got.events_received == 14);
  CHECK(got.batches_received == 2);
  CHECK(got.highest_seq == 14);
  CHECK(got.events_lost == 125);

  // Re-registering updates identity but keeps what the stored batches say.
  rec.hostname = "laptop-8";
  REQUIRE(store->register_device(rec).ok());
  d = store->find_device("dev-1");
  CHECK((*d)->hostname == "laptop-8");
  CHECK((*d)->events_received == 14);

  REQUIRE(store->set_device_status("dev-1", "blocked").ok());
  CHECK((*store->find_device("dev-1"))->status == "blocked");
  auto st = store->set_device_status("dev-404", "blocked");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("dev-404") != std::string::npos);
  CHECK_FALSE(store->set_device_status("dev-1", "sleeping").ok());

  // A device the store has never heard of appears with its first upload.
  auto stranger = make_batch("dev-2", 1, 2);
  CHECK(append_one(*store, stranger, kT0 + 30) == AppendOutcome::Stored);
  auto all = store->list_devices();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].device_id == "dev-1");
  CHECK((*all)[1].device_id == "dev-2");
  CHECK((*all)[1].events_received == 2);
  CHECK((*all)[1].first_seen_ns == kT0 + 30);
  auto none = store->find_device("dev-404");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("seq coverage reports the stored events and the gaps between them", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  auto a = make_batch("dev-1", 1, 10), b = make_batch("dev-1", 21, 30), c = make_batch("dev-1", 31, 35),
       d = make_batch("dev-1", 41, 50);
  append(*store, {&d, &a, &c, &b});
  auto cov = store->seq_coverage("dev-1");
  REQUIRE(cov.ok());
  CHECK(cov->events == 35);
  CHECK(cov->highest_seq == 50);
  using Gaps = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  CHECK(cov->gaps == Gaps{{11, 20}, {36, 40}});

  auto late = make_batch("dev-2", 5, 9);
  append(*store, {&late});
  cov = store->seq_coverage("dev-2");
  REQUIRE(cov.ok());
  CHECK(cov->gaps == Gaps{{1, 4}});

  cov = store->seq_coverage("dev-unknown");
  REQUIRE(cov.ok());
  CHECK(cov->events == 0);
  CHECK(cov->highest_seq == 0);
  CHECK(cov->gaps.empty());
}

namespace {

// Two devices, three users, several types, over several days; times on a coarse grid so that
// events tie across and within devices, and now and then a clock step backwards inside a batch.
struct Fleet {
  std::vector<Owned> batches;
  std::vector<std::pair<std::string, v1::Event>> events;  // ground truth
};

Fleet make_fleet() {
  Fleet f;
  std::mt19937_64 rng(42);
  const char* users[] = {"alice", "bob", "carol"};
  const char* types[] = {"file.create", "file.write", "file.rename", "file.delete", "session.logon",
                         "device.connected", "exfil.removable"};
  struct Dev {
    std::string id;
    int batches;
    int per_batch;
  };
  for (const Dev& d : {Dev{"dev-1", 40, 30}, Dev{"dev-2", 25, 45}, Dev{"dev-3", 3, 10}}) {
    std::uint64_t seq = 1;
    std::int64_t t = kT0 - 2 * kDay;
    for (int b = 0; b < d.batches; ++b) {
      const std::uint64_t first = seq;
      auto o = make_batch(d.id, first, first + d.per_batch - 1, [&](v1::Event& e, std::uint64_t) {
        std::int64_t step = static_cast<std::int64_t>(rng() % 6) - (rng() % 25 == 0 ? 8 : 0);
        t += step * 600'000'000'000;  // ten-minute grid
        e.set_time_ns(t);
        const std::string user = users[rng() % 3];
        const std::string type = types[rng() % 7];
        e.set_user(user);
        e.set_type(type);
        e.clear_file();
        if (type.starts_with("file.") || type == "exfil.removable") {
          auto* file = e.mutable_file();
          if (type == "exfil.removable")
            file->set_path("/media/usb0/" + user + "-" + std::to_string(rng() % 50) + ".docx");
          else
            file->set_path("/home/" + user + "/docs/report-" + std::to_string(rng() % 50) + ".txt");
          if (type == "file.rename") file->set_old_path("/home/" + user + "/tmp/draft-" + std::to_string(rng() % 9));
        }
      });
      seq += d.per_batch;
      for (const auto& e : o.batch.events()) f.events.emplace_back(d.id, e);
      f.batches.push_back(std::move(o));
    }
  }
  return f;
}

bool reference_match(const EventQuery& q, const std::string& device, const v1::Event& e) {
  if (q.device_id && device != *q.device_id) return false;
  if (q.user && e.user() != *q.user) return false;
  if (q.type) {
    if (q.type->back() == '.' ? !e.type().starts_with(*q.type) : e.type() != *q.type) return false;
  }
  if (q.since_ns && e.time_ns() < *q.since_ns) return false;
  if (q.until_ns && e.time_ns() >= *q.until_ns) return false;
  if (q.path_glob) {
    if (!e.has_file()) return false;
    if (fnmatch(q.path_glob->c_str(), e.file().path().c_str(), 0) != 0 &&
        (e.file().old_path().empty() || fnmatch(q.path_glob->c_str(), e.file().old_path().c_str(), 0) != 0))
      return false;
  }
  return true;
}

using Key = std::tuple<std::int64_t, std::string, std::uint64_t>;

std::vector<Key> expected_keys(const Fleet& f, const EventQuery& q) {
  std::vector<Key> keys;
  for (const auto& [dev, e] : f.events)
    if (reference_match(q, dev, e)) keys.emplace_back(e.time_ns(), dev, e.seq());
  std::sort(keys.begin(), keys.end());
  if (keys.size() > q.limit) keys.erase(keys.begin(), keys.end() - static_cast<std::ptrdiff_t>(q.limit));
  return keys;
}

std::vector<Key> keys_of(const std::vector<StoredEvent>& got) {
  std::vector<Key> keys;
  for (const auto& s : got) keys.emplace_back(s.event.time_ns(), s.device_id, s.event.seq());
  return keys;
}

}  // namespace

TEST_CASE("queries return the newest matches, oldest first, whatever the filters", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  Fleet fleet = make_fleet();
  // Arrival order is not time order: devices upload in turns.
  std::vector<const Owned*> ptrs;
  for (const auto& b : fleet.batches) ptrs.push_back(&b);
  std::shuffle(ptrs.begin(), ptrs.end(), std::mt19937_64(7));
  for (std::size_t i = 0; i < ptrs.size(); i += 8)
    append(*store, std::vector<const Owned*>(ptrs.begin() + i, ptrs.begin() + std::min(ptrs.size(), i + 8)));

  const std::int64_t mid = fleet.events[fleet.events.size() / 3].second.time_ns();
  std::vector<std::pair<const char*, EventQuery>> queries{
      {"everything", {}},
      {"device", {.device_id = "dev-2"}},
      {"user", {.user = "bob"}},
      {"type", {.type = "file.write"}},
      {"type prefix", {.type = "file."}},
      {"type without its dot is exact", {.type = "file"}},
      {"since", {.since_ns = mid}},
      {"until", {.until_ns = mid}},
      {"since and until across days", {.since_ns = mid - kDay, .until_ns = mid + 2 * kDay + 1}},
      {"path glob", {.path_glob = "/media/usb*/*"}},
      {"path glob on the old path of a rename", {.path_glob = "*/tmp/draft-*"}},
      {"device, user, type prefix, window",
       {.device_id = "dev-1", .user = "alice", .type = "file.", .since_ns = mid - 3 * kDay, .until_ns = mid + kDay}},
      {"user, type, window", {.user = "carol", .type = "file.rename", .since_ns = mid, .until_ns = mid + 5 * kDay}},
      {"nobody", {.user = "mallory"}},
      {"empty window", {.since_ns = mid, .until_ns = mid}},
  };
  for (auto& [name, q] : queries) {
    for (std::size_t limit : {std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{100'000}}) {
      q.limit = limit;
      INFO(name << ", limit " << limit);
      auto got = query(*store, q);
      auto want = expected_keys(fleet, q);
      CHECK(keys_of(got) == want);
      for (const auto& s : got) CHECK(reference_match(q, s.device_id, s.event));
    }
  }
  // Bodies come back whole.
  auto renames = query(*store, EventQuery{.type = "file.rename", .limit = 1});
  REQUIRE(renames.size() == 1);
  CHECK(renames[0].event.file().old_path().starts_with("/home/"));
  CHECK(query(*store, EventQuery{.limit = 0}).empty());
}

TEST_CASE("queries run while another thread appends", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  std::atomic<bool> done{false};
  std::atomic<int> query_errors{0}, queries_run{0};
  std::string first_error;
  std::mutex error_mu;
  auto note = [&](const std::string& e) {
    std::lock_guard lock(error_mu);
    if (first_error.empty()) first_error = e;
    ++query_errors;
  };
  std::thread reader([&] {
    std::size_t last_seen = 0;
    while (!done.load()) {
      auto r = store->query_events(EventQuery{.user = "alice", .type = "file.", .limit = 100'000});
      if (!r.ok()) {
        note(r.error());
        continue;
      }
      if (r->size() < last_seen) note("a later query saw fewer events");  // commits only add
      last_seen = r->size();
      if (!std::is_sorted(r->begin(), r->end(), [](const StoredEvent& a, const StoredEvent& b) {
            return a.event.time_ns() < b.event.time_ns();
          }))
        note("result not in time order");
      auto cov = store->seq_coverage("dev-1");
      if (!cov.ok()) note(cov.error());
      auto devs = store->list_devices();
      if (!devs.ok()) note(devs.error());
      ++queries_run;
    }
  });
  std::uint64_t seq = 1;
  for (int call = 0; call < 100; ++call) {
    auto a = make_batch("dev-1", seq, seq + 49);
    auto b = make_batch("dev-1", seq + 50, seq + 99);
    seq += 100;
    append(*store, {&a, &b});
  }
  // Let the reader see the final state at least once.
  int before = queries_run.load();
  while (queries_run.load() < before + 2) std::this_thread::yield();
  done = true;
  reader.join();
  INFO(first_error);
  CHECK(query_errors.load() == 0);
  CHECK(queries_run.load() > 0);
  CHECK(query(*store, EventQuery{.limit = 1'000'000}).size() == 10'000);
}

TEST_CASE("enrollment tokens are accepted while valid and consumed atomically", "[store]") {
  StoreDir dir;
  auto store = open_store(dir.db());
  const std::int64_t now = kT0;
  REQUIRE(store->add_enroll_token("sha-two-uses", now + 3600'000'000'000, 2).ok());
  REQUIRE(store->add_enroll_token("sha-expired", now - 1, 5).ok());
  CHECK_FALSE(store->add_enroll_token("sha-two-uses", now + 1, 1).ok());  // one row per token

  auto check = [&](const std::string& sha, std::int64_t at = kT0) {
    auto r = store->consume_enroll_token(sha, at);
    INFO((r.ok() ? std::string() : r.error()));
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(check("sha-two-uses") == TokenCheck::Accepted);
  CHECK(check("sha-two-uses") == TokenCheck::Accepted);
  CHECK(check("sha-two-uses") == TokenCheck::UsedUp);
  CHECK(check("sha-nobody-minted") == TokenCheck::Unknown);
  CHECK(check("sha-expired") == TokenCheck::Expired);
  REQUIRE(store->add_enroll_token("sha-later", now + 10, 1).ok());
  CHECK(check("sha-later", now + 10) == TokenCheck::Expired);  // expiry is exclusive
  CHECK(check("sha-later", now + 9) == TokenCheck::Accepted);

  for (int round = 0; round < 20; ++round) {
    const std::string sha = "sha-race-" + std::to_string(round);
    REQUIRE(store->add_enroll_token(sha, now + 3600'000'000'000, 1).ok());
    std::atomic<int> ready{0};
    TokenCheck outcome[2];
    bool ok[2];
    auto racer = [&](int i) {
      ++ready;
      while (ready.load() < 2) {
      }
      auto r = store->consume_enroll_token(sha, now);
      ok[i] = r.ok();
      outcome[i] = r.ok() ? *r : TokenCheck::Unknown;
    };
    std::thread t0(racer, 0), t1(racer, 1);
    t0.join();
    t1.join();
    REQUIRE(ok[0]);
    REQUIRE(ok[1]);
    CHECK(((outcome[0] == TokenCheck::Accepted) + (outcome[1] == TokenCheck::Accepted)) == 1);
    CHECK(((outcome[0] == TokenCheck::UsedUp) + (outcome[1] == TokenCheck::UsedUp)) == 1);
  }
}

TEST_CASE("two store instances on one file still hand a 1-use token to one caller", "[store]") {
  // Two collector processes (or a restart overlapping the old one) share the file: the single
  // UPDATE decides, not the in-process mutex.
  StoreDir dir;
  auto s1 = open_store(dir.db());
  auto s2 = open_store(dir.db());
  REQUIRE(s1->add_enroll_token("sha", kT0 + 1000, 1).ok());
  auto a = s1->consume_enroll_token("sha", kT0);
  auto b = s2->consume_enroll_token("sha", kT0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == TokenCheck::Accepted);
  CHECK(*b == TokenCheck::UsedUp);
}

TEST_CASE("opening refuses what it cannot honour", "[store]") {
  StoreDir dir;
  auto missing = open_sqlite_event_store((dir.path / "no" / "such" / "dir" / "vigil.db").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("no/such/dir") != std::string::npos);

  setenv("VIGIL_SQLITE_SYNC", "sometimes", 1);
  auto bad_sync = open_sqlite_event_store(dir.db());
  unsetenv("VIGIL_SQLITE_SYNC");
  REQUIRE_FALSE(bad_sync.ok());
  CHECK(bad_sync.error().find("VIGIL_SQLITE_SYNC") != std::string::npos);

  { auto store = open_store(dir.db()); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  auto newer = open_sqlite_event_store(dir.db());
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().find("schema version 99") != std::string::npos);
}
