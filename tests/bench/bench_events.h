// Synthetic per-device event streams and the small helpers the store benchmarks share
// (bench_store, bench_query). Header-only: every .cpp in tests/bench is its own executable.
//
// Promises:
// - DeviceStream is deterministic: the same index, start and step give the same batches, so a
//   benchmark's figures compare across runs and machines.
// - Each batch is a valid wire batch: contiguous seqs from 1, nondecreasing times advancing by
//   step_ns on average, the device's login user 85% of the time, root 12%, a shared service
//   account 3% (uids 1000, 0, 998), as real fleets have.
// - What an event is about (type, process, file, print...) is the caller's: fill() sets it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "vigil.pb.h"

namespace vigil::bench {

class DeviceStream {
 public:
  DeviceStream(int index, std::string user, std::int64_t start_ns, std::int64_t step_ns)
      : id_("dev-" + std::to_string(index)), user_(std::move(user)), t_(start_ns), step_(step_ns),
        rng_(static_cast<std::uint64_t>(index) * 7919 + 1) {}

  const std::string& id() const { return id_; }

  // fill(event, user, rng) completes each event after its seq, time, user and login uid are set;
  // it draws from the same rng so the whole stream stays one deterministic sequence.
  template <typename Fill>
  v1::EventBatch next_batch(int n, Fill&& fill) {
    v1::EventBatch b;
    b.set_schema_version(1);
    b.set_device_id(id_);
    b.set_first_seq(seq_);
    b.set_last_seq(seq_ + static_cast<std::uint64_t>(n) - 1);
    for (int i = 0; i < n; ++i) {
      auto* e = b.add_events();
      e->set_seq(seq_++);
      t_ += static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(2 * step_));
      e->set_time_ns(t_);
      const std::uint64_t who = rng_() % 100;
      const std::string user = who < 85 ? user_ : who < 97 ? std::string("root") : std::string("svc-backup");
      e->set_user(user);
      e->set_login_uid(who < 85 ? 1000 : who < 97 ? 0 : 998);
      fill(*e, user, rng_);
    }
    return b;
  }

 private:
  std::string id_, user_;
  std::uint64_t seq_ = 1;
  std::int64_t t_;
  std::int64_t step_;
  std::mt19937_64 rng_;
};

// The mean time step that spreads `batches` batches of batch_events events, dealt round-robin
// over `devices` devices, evenly across span_ns.
inline std::int64_t even_step(std::uint64_t batches, int devices, int batch_events, std::int64_t span_ns) {
  const auto n = static_cast<std::uint64_t>(devices);
  const std::uint64_t per_device = (batches + n - 1) / n;
  const auto events = static_cast<std::int64_t>(per_device * static_cast<std::uint64_t>(batch_events));
  return std::max<std::int64_t>(1, span_ns / events);
}

// The value at fraction p (0..1) of v, nearest rank; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

// A SQLite database and its WAL companions.
inline void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace vigil::bench
