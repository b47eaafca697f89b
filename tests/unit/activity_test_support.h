// Builders for the activity query tests (header-only): events of the kinds investigators filter
// on, and storing them as real batches through EventStore::append_batches().
#pragma once
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "collector/store/event_store.h"
#include "shared/batch_codec.h"
#include "shared/limits.h"

namespace vigil::test::activity {

using collector::AppendOutcome;
using collector::EventStore;
using collector::IncomingBatch;

inline constexpr std::int64_t kSec = 1'000'000'000;
inline constexpr std::int64_t kHour = 3600 * kSec;
inline constexpr std::int64_t kDay = 24 * kHour;
inline constexpr std::int64_t kT0 = 1'780'000'000LL * kSec;  // a fixed day in 2026

inline v1::Event file_event(const std::string& user, const std::string& type, std::int64_t t, const std::string& path) {
  v1::Event e;
  e.set_time_ns(t);
  e.set_type(type);
  e.set_user(user);
  e.set_login_uid(1000);
  e.mutable_process()->set_pid(4242);
  e.mutable_process()->set_exe("/usr/bin/cp");
  auto* f = e.mutable_file();
  f->set_path(path);
  f->set_size(1234);
  if (type.starts_with("exfil.")) {
    f->mutable_volume()->set_removable(type == "exfil.removable");
    f->mutable_volume()->set_network_share(type == "exfil.network_share");
  }
  return e;
}

inline v1::Event with_finding(v1::Event e, const std::string& info_type, std::uint32_t count = 2) {
  auto* c = e.mutable_file()->mutable_classification();
  c->set_status("scanned");
  auto* f = c->add_findings();
  f->set_type(info_type);
  f->set_count(count);
  f->set_confidence("high");
  return e;
}

inline v1::Event print_event(const std::string& user, std::int64_t t, const std::string& title) {
  v1::Event e;
  e.set_time_ns(t);
  e.set_type("print.job");
  e.set_user(user);
  e.mutable_print()->set_printer("office");
  e.mutable_print()->set_title(title);
  e.mutable_print()->set_job_user(user);
  return e;
}

// Appends `events` for `device` in batches of `per_batch`, numbering seqs after the device's last.
class Feeder {
 public:
  explicit Feeder(EventStore& store) : store_(store) {}

  void add(const std::string& device, std::vector<v1::Event> events, std::size_t per_batch = 4) {
    for (std::size_t at = 0; at < events.size(); at += per_batch) {
      v1::EventBatch b;
      b.set_schema_version(1);
      b.set_device_id(device);
      std::uint64_t& seq = next_[device];
      if (seq == 0) seq = 1;
      b.set_first_seq(seq);
      for (std::size_t i = at; i < std::min(events.size(), at + per_batch); ++i) {
        auto* e = b.add_events();
        *e = events[i];
        e->set_seq(seq++);
      }
      b.set_last_seq(seq - 1);
      const std::string payload = encode_batch(b);
      auto decoded = decode_batch(payload, {limits::kMaxDecompressedBytes, limits::kMaxBatchEvents});
      REQUIRE(decoded);
      IncomingBatch in{device, &*decoded, payload};
      auto r = store_.append_batches(std::span<const IncomingBatch>(&in, 1), kT0);
      REQUIRE(r);
      REQUIRE((*r)[0].outcome == AppendOutcome::Stored);
    }
  }

 private:
  EventStore& store_;
  std::map<std::string, std::uint64_t> next_;
};

}  // namespace vigil::test::activity
