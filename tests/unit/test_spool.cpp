// Spool: real SQLite files in a temporary directory, and a child process killed mid-append.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#ifndef _WIN32
#include <sys/wait.h>
#endif
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "agent/spool.h"
#include "shared/batch_codec.h"
#include "shared/limits.h"
#include "shared/schema_version.h"
#include "shared/time_util.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

using test::TempDir;

const BatchLimits kDecode{limits::kMaxDecompressedBytes, limits::kMaxBatchEvents};

std::unique_ptr<Spool> open_spool(const std::string& path, const SpoolLimits& lim = {},
                                  const std::string& device = "dev-1") {
  auto s = Spool::open(path, device, lim);
  INFO((s.ok() ? std::string() : s.error()));
  REQUIRE(s.ok());
  return std::move(s).value();
}

v1::Event file_event(int i, std::int64_t time_ns = 1'700'000'000'000'000'000) {
  v1::Event e;
  e.set_time_ns(time_ns + i);
  e.set_type("file.write");
  e.set_login_uid(1000);
  e.set_user("alice");
  auto* p = e.mutable_process();
  p->set_pid(4242);
  p->set_exe("/usr/bin/cp");
  auto* f = e.mutable_file();
  f->set_path("/home/alice/docs/report-" + std::to_string(i) + ".docx");
  f->set_size(1000 + static_cast<std::uint64_t>(i));
  return e;
}

std::vector<v1::Event> events(int n, int base = 0) {
  std::vector<v1::Event> v;
  for (int i = 0; i < n; ++i) v.push_back(file_event(base + i));
  return v;
}

std::vector<SpooledBatch> all_pending(Spool& s) {
  auto p = s.pending(0, 1'000'000);
  REQUIRE(p.ok());
  return std::move(p).value();
}

v1::EventBatch decode(const SpooledBatch& b) {
  auto d = decode_batch(b.zstd_payload, kDecode);
  INFO((d.ok() ? std::string() : d.error()));
  REQUIRE(d.ok());
  return std::move(d).value();
}

SeqRange append_n(Spool& s, int n) {
  auto ev = events(n);
  auto r = s.append(ev);
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("a new spool starts at seq 1, empty, as a first run", "[spool]") {
  TempDir dir;
  auto s = open_spool(dir.file("spool.db"));
  CHECK(s->next_seq() == 1);
  CHECK(s->bytes() == 0);
  CHECK(s->batch_count() == 0);
  CHECK(s->previous_run().first_run);
  auto p = s->pending(0, 10);
  REQUIRE(p.ok());
  CHECK(p->empty());
}

TEST_CASE("an empty append is refused and changes nothing", "[spool]") {
  TempDir dir;
  auto s = open_spool(dir.file("spool.db"));
  std::vector<v1::Event> none;
  auto r = s->append(none);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("no events") != std::string::npos);
  CHECK(s->next_seq() == 1);
  CHECK(s->batch_count() == 0);
}

TEST_CASE("a batch the collector would refuse is never spooled", "[spool]") {
  TempDir dir;
  auto s = open_spool(dir.file("spool.db"));
  auto too_many = events(static_cast<int>(limits::kMaxBatchEvents) + 1);
  CHECK_FALSE(s->append(too_many).ok());
  auto no_type = events(3);
  no_type[1].clear_type();
  auto r = s->append(no_type);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("type") != std::string::npos);
  CHECK(s->next_seq() == 1);
  CHECK(s->batch_count() == 0);
}

TEST_CASE("seqs are contiguous across many appends and across close and reopen", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::mt19937 rng(7);
  std::uint64_t expect_next = 1;
  std::uint64_t total_events = 0;
  for (int round = 0; round < 3; ++round) {
    auto s = open_spool(path);
    CHECK(s->next_seq() == expect_next);
    for (int i = 0; i < 40; ++i) {
      int n = 1 + static_cast<int>(rng() % 50);
      auto ev = events(n, i * 100);
      auto r = s->append(ev);
      REQUIRE(r.ok());
      CHECK(r->first == expect_next);
      CHECK(r->last == expect_next + static_cast<std::uint64_t>(n) - 1);
      for (int k = 0; k < n; ++k) CHECK(ev[static_cast<std::size_t>(k)].seq() == r->first + static_cast<std::uint64_t>(k));
      CHECK(ev[0].file().path() == "/home/alice/docs/report-" + std::to_string(i * 100) + ".docx");
      expect_next = r->last + 1;
      total_events += static_cast<std::uint64_t>(n);
    }
    CHECK(s->next_seq() == expect_next);
  }
  auto s = open_spool(path);
  auto batches = all_pending(*s);
  REQUIRE(batches.size() == 120);
  CHECK(s->batch_count() == 120);
  std::uint64_t next = 1, bytes = 0, count = 0;
  for (const auto& b : batches) {
    CHECK(b.first_seq == next);
    auto d = decode(b);
    CHECK(d.device_id() == "dev-1");
    CHECK(d.schema_version() == kSchemaVersion);
    CHECK(d.first_seq() == b.first_seq);
    CHECK(d.last_seq() == b.last_seq);
    CHECK(static_cast<std::uint32_t>(d.events_size()) == b.event_count);
    CHECK(d.ByteSizeLong() == b.uncompressed_bytes);
    CHECK(b.created_ns > 0);
    next = b.last_seq + 1;
    bytes += b.zstd_payload.size();
    count += b.event_count;
  }
  CHECK(count == total_events);
  CHECK(s->bytes() == bytes);
  CHECK(s->next_seq() == next);
}

TEST_CASE("pending is oldest first, starts after after_seq, and stops at max_batches", "[spool]") {
  TempDir dir;
  auto s = open_spool(dir.file("spool.db"));
  std::vector<SeqRange> ranges;
  for (int i = 0; i < 6; ++i) ranges.push_back(append_n(*s, 3 + i));

  auto first_two = s->pending(0, 2);
  REQUIRE(first_two.ok());
  REQUIRE(first_two->size() == 2);
  CHECK((*first_two)[0].first_seq == ranges[0].first);
  CHECK((*first_two)[1].first_seq == ranges[1].first);

  auto after = s->pending((*first_two)[1].last_seq, 100);
  REQUIRE(after.ok());
  REQUIRE(after->size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK((*after)[i].first_seq == ranges[i + 2].first);
    CHECK((*after)[i].last_seq == ranges[i + 2].last);
  }
  // after_seq inside a batch: that batch has already started, so it is not returned again.
  auto mid = s->pending(ranges[3].first + 1, 100);
  REQUIRE(mid.ok());
  REQUIRE_FALSE(mid->empty());
  CHECK(mid->front().first_seq == ranges[4].first);

  auto none = s->pending(0, 0);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("ack deletes a batch, keeps counters right, and an unknown ack is fine", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  SeqRange a, b, c;
  {
    auto s = open_spool(path);
    a = append_n(*s, 5);
    b = append_n(*s, 7);
    c = append_n(*s, 9);
    const auto before = s->bytes();
    auto p = all_pending(*s);
    REQUIRE(p.size() == 3);

    REQUIRE(s->ack(b.first).ok());
    CHECK(s->batch_count() == 2);
    CHECK(s->bytes() == before - p[1].zstd_payload.size());
    REQUIRE(s->ack(b.first).ok());       // again: already gone
    REQUIRE(s->ack(999'999).ok());       // never existed
    CHECK(s->batch_count() == 2);
    auto left = all_pending(*s);
    REQUIRE(left.size() == 2);
    CHECK(left[0].first_seq == a.first);
    CHECK(left[1].first_seq == c.first);
    REQUIRE(s->ack(a.first).ok());
    REQUIRE(s->ack(c.first).ok());
    CHECK(s->batch_count() == 0);
    CHECK(s->bytes() == 0);
  }
  // An empty spool still continues from the highest seq ever assigned.
  auto s = open_spool(path);
  CHECK(s->batch_count() == 0);
  CHECK(s->bytes() == 0);
  CHECK(s->next_seq() == c.last + 1);
  auto d = append_n(*s, 1);
  CHECK(d.first == c.last + 1);
}

TEST_CASE("counters are loaded at open", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::uint64_t bytes = 0;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 5; ++i) append_n(*s, 20);
    REQUIRE(s->ack(1).ok());
    bytes = s->bytes();
  }
  auto s = open_spool(path);
  CHECK(s->batch_count() == 4);
  CHECK(s->bytes() == bytes);
  CHECK(s->next_seq() == 101);
}

TEST_CASE("over the byte cap the oldest are dropped and an agent.loss batch takes the next seq", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::vector<SpooledBatch> before;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 10; ++i) append_n(*s, 50);
    before = all_pending(*s);
  }
  std::uint64_t total = 0;
  for (const auto& b : before) total += b.zstd_payload.size();
  // Room for about six and a half batches: four must go (the fourth to make room for the loss batch
  // only if needed; the exact count is checked against the reported one).
  SpoolLimits lim;
  lim.max_bytes = total - before[0].zstd_payload.size() - before[1].zstd_payload.size() -
                  before[2].zstd_payload.size() - before[3].zstd_payload.size() / 2;
  auto s = open_spool(path, lim);
  const std::int64_t now = now_ns();
  auto out = s->enforce_caps(now);
  INFO((out.ok() ? std::string() : out.error()));
  REQUIRE(out.ok());
  REQUIRE(out->loss_event.has_value());
  const std::uint64_t dropped = out->dropped_batches;
  CHECK((dropped == 4 || dropped == 5));
  CHECK(out->dropped_events == dropped * 50);
  CHECK(out->loss_event->first == 501);
  CHECK(out->loss_event->last == 501);
  CHECK(s->next_seq() == 502);
  CHECK(s->bytes() <= lim.max_bytes);

  auto after = all_pending(*s);
  REQUIRE(after.size() == 10 - dropped + 1);
  CHECK(s->batch_count() == after.size());
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i + 1 < after.size(); ++i) {
    CHECK(after[i].first_seq == before[i + dropped].first_seq);  // the newest were kept, untouched
    CHECK(after[i].zstd_payload == before[i + dropped].zstd_payload);
    bytes += after[i].zstd_payload.size();
  }
  bytes += after.back().zstd_payload.size();
  CHECK(s->bytes() == bytes);
  // Seqs stay contiguous: the kept batches run up to 500, the loss batch is 501.
  CHECK(after[after.size() - 2].last_seq == 500);
  auto loss = decode(after.back());
  REQUIRE(loss.events_size() == 1);
  const auto& e = loss.events(0);
  CHECK(e.seq() == 501);
  CHECK(e.type() == "agent.loss");
  CHECK(e.time_ns() == now);
  CHECK(e.user().empty());
  REQUIRE(e.has_loss());
  CHECK(e.loss().reason() == "spool_bytes_cap");
  CHECK(e.loss().first_seq() == 1);
  CHECK(e.loss().last_seq() == dropped * 50);
  CHECK(e.loss().events() == dropped * 50);
  CHECK(e.loss().batches() == dropped);
  std::uint64_t dropped_bytes = 0;
  for (std::size_t i = 0; i < dropped; ++i) dropped_bytes += before[i].zstd_payload.size();
  CHECK(e.loss().bytes() == dropped_bytes);
  CHECK(e.loss().first_time_ns() == file_event(0).time_ns());
  CHECK(e.loss().last_time_ns() == file_event(49).time_ns());

  // Under the cap now: a second call drops nothing.
  auto again = s->enforce_caps(now);
  REQUIRE(again.ok());
  CHECK(again->dropped_batches == 0);
  CHECK_FALSE(again->loss_event.has_value());
  CHECK(s->next_seq() == 502);
}

TEST_CASE("the loss batch's own bytes are accounted for, so the next call drops nothing", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::vector<SpooledBatch> before;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 8; ++i) append_n(*s, 40);
    before = all_pending(*s);
  }
  std::uint64_t total = 0;
  for (const auto& b : before) total += b.zstd_payload.size();
  SpoolLimits lim;
  // After dropping four batches only 10 bytes are free: too little for the loss batch.
  lim.max_bytes = total - before[0].zstd_payload.size() - before[1].zstd_payload.size() -
                  before[2].zstd_payload.size() - before[3].zstd_payload.size() + 10;
  auto s = open_spool(path, lim);
  auto out = s->enforce_caps(now_ns());
  REQUIRE(out.ok());
  CHECK(out->dropped_batches == 5);
  CHECK(s->bytes() <= lim.max_bytes);
  auto again = s->enforce_caps(now_ns());
  REQUIRE(again.ok());
  CHECK(again->dropped_batches == 0);
  auto after = all_pending(*s);
  REQUIRE(after.size() == 4);
  CHECK(after.front().first_seq == 201);
  CHECK(decode(after.back()).events(0).loss().events() == 200);
}

TEST_CASE("a drop over non-contiguous batches reports the overall range and the exact count", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::vector<SpooledBatch> before;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 6; ++i) append_n(*s, 10);  // 1-10, 11-20, ..., 51-60
    REQUIRE(s->ack(11).ok());                       // the collector acked the second one out of order
    before = all_pending(*s);
  }
  REQUIRE(before.size() == 5);
  SpoolLimits lim;
  lim.max_bytes = before[3].zstd_payload.size() + before[4].zstd_payload.size() + 300;  // + room for the loss batch
  auto s = open_spool(path, lim);
  auto out = s->enforce_caps(now_ns());
  REQUIRE(out.ok());
  REQUIRE(out->dropped_batches == 3);  // 1-10, 21-30, 31-40
  auto after = all_pending(*s);
  REQUIRE(after.size() == 3);
  auto loss = decode(after.back()).events(0).loss();
  CHECK(loss.first_seq() == 1);
  CHECK(loss.last_seq() == 40);
  CHECK(loss.events() == 30);
  CHECK(loss.batches() == 3);
  CHECK(after.back().first_seq == 61);
}

TEST_CASE("the age cap drops batches older than max_age", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::vector<SpooledBatch> before;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 5; ++i) {
      append_n(*s, 4);
      // created_ns comes from the wall clock; make sure consecutive batches differ.
      const auto t = now_ns();
      while (now_ns() == t) {
      }
    }
    before = all_pending(*s);
  }
  REQUIRE(before.size() == 5);
  SpoolLimits lim;
  lim.max_age_ns = 3600ll * 1000000000;
  auto s = open_spool(path, lim);
  // Nothing is old yet.
  auto none = s->enforce_caps(before.back().created_ns);
  REQUIRE(none.ok());
  CHECK(none->dropped_batches == 0);
  // "Now" is such that the first two batches are older than an hour.
  const std::int64_t now = before[1].created_ns + lim.max_age_ns + 1;
  REQUIRE(before[2].created_ns >= now - lim.max_age_ns);
  auto out = s->enforce_caps(now);
  REQUIRE(out.ok());
  CHECK(out->dropped_batches == 2);
  CHECK(out->dropped_events == 8);
  REQUIRE(out->loss_event.has_value());
  CHECK(out->loss_event->first == 21);
  auto after = all_pending(*s);
  REQUIRE(after.size() == 4);
  CHECK(after[0].first_seq == 9);
  CHECK(after.back().created_ns == now);  // the loss batch is created "now"
  auto e = decode(after.back()).events(0);
  CHECK(e.type() == "agent.loss");
  CHECK(e.loss().reason() == "spool_age_cap");
  CHECK(e.loss().first_seq() == 1);
  CHECK(e.loss().last_seq() == 8);
  CHECK(e.loss().events() == 8);
  CHECK(e.loss().batches() == 2);
  CHECK(e.loss().bytes() == before[0].zstd_payload.size() + before[1].zstd_payload.size());
}

TEST_CASE("age and byte caps in one call give one loss event per reason, in one batch", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::vector<SpooledBatch> before;
  {
    auto s = open_spool(path);
    for (int i = 0; i < 6; ++i) {
      append_n(*s, 30);
      const auto t = now_ns();
      while (now_ns() == t) {
      }
    }
    before = all_pending(*s);
  }
  std::uint64_t last_two = before[4].zstd_payload.size() + before[5].zstd_payload.size();
  SpoolLimits lim;
  lim.max_age_ns = 1'000'000'000;
  lim.max_bytes = last_two + 400;
  auto s = open_spool(path, lim);
  const std::int64_t now = before[0].created_ns + lim.max_age_ns + 1;  // only the first is too old
  auto out = s->enforce_caps(now);
  REQUIRE(out.ok());
  CHECK(out->dropped_batches == 4);
  REQUIRE(out->loss_event.has_value());
  CHECK(out->loss_event->first == 181);
  CHECK(out->loss_event->last == 182);
  auto after = all_pending(*s);
  REQUIRE(after.size() == 3);
  auto loss = decode(after.back());
  REQUIRE(loss.events_size() == 2);
  CHECK(loss.events(0).loss().reason() == "spool_age_cap");
  CHECK(loss.events(0).loss().first_seq() == 1);
  CHECK(loss.events(0).loss().last_seq() == 30);
  CHECK(loss.events(1).loss().reason() == "spool_bytes_cap");
  CHECK(loss.events(1).loss().first_seq() == 31);
  CHECK(loss.events(1).loss().last_seq() == 120);
  CHECK(loss.events(1).loss().events() == 90);
  CHECK(s->bytes() <= lim.max_bytes);
}

TEST_CASE("a spool belongs to one device identity", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  { auto s = open_spool(path, {}, "dev-A"); append_n(*s, 2); }
  auto other = Spool::open(path, "dev-B", {});
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().find("dev-A") != std::string::npos);
  CHECK(other.error().find("dev-B") != std::string::npos);
  auto empty = Spool::open(dir.file("other.db"), "", {});
  REQUIRE_FALSE(empty.ok());
  auto same = open_spool(path, {}, "dev-A");
  CHECK(same->next_seq() == 3);
}

TEST_CASE("open fails with a message when the file is not a database", "[spool]") {
  TempDir dir;
  const auto path = dir.file("junk.db");
  {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs("this is not an SQLite database, not even a little bit, no............", f);
    std::fclose(f);
  }
  auto s = Spool::open(path, "dev-1", {});
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find(path) != std::string::npos);
}

TEST_CASE("run state: first run, unclean stop, clean stop", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  {
    auto s = open_spool(path);
    CHECK(s->previous_run().first_run);
    REQUIRE(s->heartbeat(100).ok());
    REQUIRE(s->heartbeat(150).ok());
    CHECK(s->previous_run().first_run);  // what was read at open, not what this run writes
  }  // killed: no clean shutdown
  {
    auto s = open_spool(path);
    auto r = s->previous_run();
    CHECK_FALSE(r.first_run);
    CHECK_FALSE(r.clean_shutdown);
    CHECK(r.last_heartbeat_ns == 150);
    REQUIRE(s->heartbeat(200).ok());
    REQUIRE(s->mark_clean_shutdown(250).ok());
  }
  {
    auto s = open_spool(path);
    auto r = s->previous_run();
    CHECK_FALSE(r.first_run);
    CHECK(r.clean_shutdown);
    CHECK(r.last_heartbeat_ns == 250);
    REQUIRE(s->heartbeat(300).ok());  // running again: not clean until it says so
  }
  auto s = open_spool(path);
  CHECK_FALSE(s->previous_run().clean_shutdown);
  CHECK(s->previous_run().last_heartbeat_ns == 300);
}

TEST_CASE("checkpoint updates ride with the batch; roots match on whole components", "[spool]") {
  TempDir dir;
  auto s = open_spool(dir.file("spool.db"));
  auto ev = events(3);
  std::vector<CheckpointEntry> ups = {
      {"/data/a/x.txt", 10, 111, false},
      {"/data/a/sub/y.txt", 20, 222, false},
      {"/data/ab/z.txt", 30, 333, false},
      {"/data/a-b/w.txt", 40, 444, false},
  };
  REQUIRE(s->append(ev, ups).ok());
  auto under = s->checkpoint_under("/data/a/");
  REQUIRE(under.ok());
  REQUIRE(under->size() == 2);
  CHECK((*under)[0].path == "/data/a/sub/y.txt");
  CHECK((*under)[1].path == "/data/a/x.txt");
  CHECK((*under)[1].size == 10);
  CHECK((*under)[1].mtime_ns == 111);

  auto ev2 = events(1);
  REQUIRE(s->append(ev2, {{"/data/a/x.txt", 11, 112, false}, {"/data/a/sub/y.txt", 0, 0, true}}).ok());
  under = s->checkpoint_under("/data/a");
  REQUIRE(under.ok());
  REQUIRE(under->size() == 1);
  CHECK((*under)[0].size == 11);
  CHECK((*under)[0].mtime_ns == 112);

  auto everything = s->checkpoint_under("/");
  REQUIRE(everything.ok());
  CHECK(everything->size() == 3);

  // A failed append applies none of its checkpoint updates.
  std::vector<v1::Event> bad = events(1);
  bad[0].clear_type();
  CHECK_FALSE(s->append(bad, {{"/data/ab/z.txt", 0, 0, true}}).ok());
  auto ab = s->checkpoint_under("/data/ab");
  REQUIRE(ab.ok());
  CHECK(ab->size() == 1);
}

TEST_CASE("baseline_root replaces what was under the root and remembers it", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  {
    auto s = open_spool(path);
    auto b = s->root_baselined("/srv/share");
    REQUIRE(b.ok());
    CHECK_FALSE(*b);
    auto ev = events(1);
    REQUIRE(s->append(ev, {{"/srv/share/old.txt", 1, 1, false}, {"/srv/other/keep.txt", 2, 2, false}}).ok());
    REQUIRE(s->baseline_root("/srv/share/", {{"/srv/share/new.txt", 5, 6, false}}).ok());
    CHECK_FALSE(s->baseline_root("/srv/share", {{"/srv/sharex/bad.txt", 5, 6, false}}).ok());
  }
  auto s = open_spool(path);
  auto b = s->root_baselined("/srv/share");
  REQUIRE(b.ok());
  CHECK(*b);
  auto under = s->checkpoint_under("/srv/share");
  REQUIRE(under.ok());
  REQUIRE(under->size() == 1);
  CHECK((*under)[0].path == "/srv/share/new.txt");
  auto other = s->checkpoint_under("/srv/other");
  REQUIRE(other.ok());
  CHECK(other->size() == 1);
}

TEST_CASE("the checkpoint stays exact across folds of its update log and reopen", "[spool]") {
  // More updates than one fold threshold (65536), with overwrites and removals, against a model.
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::map<std::string, CheckpointEntry> model;
  std::mt19937 rng(99);
  auto check = [&](Spool& s) {
    auto all = s.checkpoint_under("/cp");
    REQUIRE(all.ok());
    REQUIRE(all->size() == model.size());
    std::size_t i = 0, mismatches = 0;
    for (const auto& [p, c] : model) {
      const auto& got = (*all)[i++];
      if (got.path != p || got.size != c.size || got.mtime_ns != c.mtime_ns || got.removed) ++mismatches;
    }
    CHECK(mismatches == 0);
    auto sub = s.checkpoint_under("/cp/d7");
    REQUIRE(sub.ok());
    std::size_t expect = 0;
    for (const auto& [p, c] : model) expect += p.starts_with("/cp/d7/") ? 1 : 0;
    CHECK(sub->size() == expect);
  };
  {
    auto s = open_spool(path);
    for (int b = 0; b < 75; ++b) {
      std::vector<CheckpointEntry> ups;
      for (int k = 0; k < 1000; ++k) {
        const std::string p = "/cp/d" + std::to_string(rng() % 10) + "/f" + std::to_string(rng() % 20000);
        if (rng() % 4 == 0) {
          ups.push_back({p, 0, 0, true});
          model.erase(p);
        } else {
          CheckpointEntry c{p, rng() % 100000, static_cast<std::int64_t>(rng()), false};
          ups.push_back(c);
          model[p] = c;
        }
      }
      auto ev = events(1);
      REQUIRE(s->append(ev, ups).ok());
      if (b == 30 || b == 70) check(*s);  // before and after the first fold, log not empty
    }
    check(*s);
  }
  auto s = open_spool(path);  // folds what is left
  check(*s);
}

// Needs fork() and SIGKILL; the Windows build (tests/windows) runs the rest of this file.
#ifndef _WIN32
namespace {

// The child: appends (with checkpoint updates), acks and enforces caps until it is killed, and
// reports on the pipe the last seq of every append that returned.
[[noreturn]] void crash_child(const std::string& path, int report_fd, unsigned seed) {
  SpoolLimits lim;
  lim.max_bytes = 256 * 1024;  // small: drops and loss batches happen under the knife too
  auto opened = Spool::open(path, "dev-crash", lim);
  if (!opened) _exit(3);
  auto& s = **opened;
  std::mt19937 rng(seed);
  for (int i = 0;; ++i) {
    auto ev = events(1 + static_cast<int>(rng() % 200), i);
    std::vector<CheckpointEntry> ups;
    for (const auto& e : ev) ups.push_back({e.file().path(), e.file().size(), e.time_ns(), false});
    // Plenty of updates so that folds of the checkpoint log are killed too.
    for (int k = 0; k < 2000; ++k)
      ups.push_back({"/crash/f" + std::to_string(rng() % 5000), rng() % 1000, 1, rng() % 3 == 0});
    auto r = s.append(ev, ups);
    if (!r) _exit(4);
    std::uint64_t last = r->last;
    if (write(report_fd, &last, sizeof last) != sizeof last) _exit(5);
    if (rng() % 7 == 0) {
      auto p = s.pending(0, 1);
      if (!p) _exit(6);
      if (!p->empty() && !s.ack(p->front().first_seq)) _exit(7);
    }
    if (rng() % 5 == 0) {
      auto c = s.enforce_caps(now_ns());
      if (!c) _exit(8);
      if (c->loss_event && write(report_fd, &c->loss_event->last, sizeof last) != sizeof last) _exit(5);
    }
    if (rng() % 11 == 0 && !s.heartbeat(now_ns())) _exit(9);
  }
}

}  // namespace

TEST_CASE("a process killed at random moments loses no committed batch and no seq", "[spool]") {
  TempDir dir;
  const auto path = dir.file("spool.db");
  std::mt19937 rng(12345);
  std::uint64_t reported = 0;  // highest seq an append()/enforce_caps() returned in any child
  std::uint64_t next_before = 1;
  for (int round = 0; round < 10; ++round) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(path, fds[1], static_cast<unsigned>(round));
    }
    close(fds[1]);
    usleep(static_cast<useconds_t>(30'000 + rng() % 270'000));
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    INFO("child exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    REQUIRE(WIFSIGNALED(status));
    std::uint64_t seq = 0;
    std::uint64_t appends = 0;
    while (read(fds[0], &seq, sizeof seq) == sizeof seq) {
      reported = std::max(reported, seq);
      ++appends;
    }
    close(fds[0]);

    auto opened = Spool::open(path, "dev-crash", {});
    INFO((opened.ok() ? std::string() : opened.error()));
    REQUIRE(opened.ok());
    auto& s = **opened;
    auto batches = all_pending(s);
    std::uint64_t bytes = 0;
    std::uint64_t highest = 0;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      if (i > 0) CHECK(b.first_seq == batches[i - 1].last_seq + 1);  // only the oldest go: no holes
      auto d = decode(b);
      CHECK(d.first_seq() == b.first_seq);
      CHECK(d.last_seq() == b.last_seq);
      bytes += b.zstd_payload.size();
      highest = b.last_seq;
    }
    CHECK(s.bytes() == bytes);
    CHECK(s.batch_count() == batches.size());
    auto cp = s.checkpoint_under("/crash");
    REQUIRE(cp.ok());
    CHECK(cp->size() <= 5000);
    // Everything a child was told is committed is there (or was acked/dropped before it).
    CHECK(s.next_seq() >= reported + 1);
    CHECK(s.next_seq() >= next_before);  // never goes back
    if (!batches.empty()) CHECK(s.next_seq() == highest + 1);
    next_before = s.next_seq();
    INFO("round " << round << ": " << appends << " appends reported, next_seq " << s.next_seq());
    CHECK(appends > 0);
  }
  CHECK(reported > 0);
}
#endif  // _WIN32
