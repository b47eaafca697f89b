// bench_store: ingest throughput and query latency of the SQLite EventStore.
//
//   bench_store [--events N] [--batch-events N] [--group N] [--devices N] [--days N]
//               [--sync full|normal|both] [--runs N] [--dir DIR] [--keep]
//
// Synthetic but realistic batches (file events with paths, process info, 2-3 users and 3 types
// per batch, 1000 events each) are appended in group commits of --group batches per
// append_batches() call, the way ingest acks a window of in-flight batches. Generation and
// encoding are outside the timed part; decode_batch() (which ingest runs before the store) is
// timed separately. Then one user's last 30 days is queried --runs times; the median is printed.
// The database lives on disk under --dir (default: the system temp dir), never in memory.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "shared/limits.h"
#include "tests/bench/bench_events.h"

using namespace vigil;
using namespace vigil::collector;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kDay = 86'400'000'000'000;
constexpr std::int64_t kEnd = 1'700'000'000'000'000'000;

struct Options {
  std::uint64_t events = 2'000'000;
  int batch_events = 1000;
  int group = 16;
  int devices = 20;
  int days = 60;
  std::string sync = "both";
  int runs = 20;
  std::string dir;
  bool keep = false;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "bench_store: %s\nusage: bench_store [--events N] [--batch-events N] [--group N] [--devices N] "
               "[--days N] [--sync full|normal|both] [--runs N] [--dir DIR] [--keep]\n",
               msg);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  o.dir = std::filesystem::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    auto number = [&]() -> long long {
      std::string v = next();
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (!end || *end || n <= 0) usage(("bad number for " + a + ": " + v).c_str());
      return n;
    };
    if (a == "--events") o.events = static_cast<std::uint64_t>(number());
    else if (a == "--batch-events") o.batch_events = static_cast<int>(number());
    else if (a == "--group") o.group = static_cast<int>(number());
    else if (a == "--devices") o.devices = static_cast<int>(number());
    else if (a == "--days") o.days = static_cast<int>(number());
    else if (a == "--runs") o.runs = static_cast<int>(number());
    else if (a == "--sync") o.sync = next();
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else if (a == "-h" || a == "--help") usage("help");
    else usage(("unknown argument " + a).c_str());
  }
  if (o.sync != "full" && o.sync != "normal" && o.sync != "both") usage("--sync must be full, normal or both");
  if (static_cast<std::size_t>(o.batch_events) > limits::kMaxBatchEvents) usage("--batch-events above the wire limit");
  return o;
}

std::string user_of_device(int d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%02d", d);
  return buf;
}

// What one device's events are about: file create/write/rename under a few project trees, by
// an editor, a script, cp or an office suite.
void fill_event(v1::Event& e, const std::string& user, std::mt19937_64& rng) {
  static const char* kTypes[] = {"file.create", "file.write", "file.rename"};
  static const char* kExes[][3] = {{"/usr/bin/code", "code", "/usr/lib/systemd/systemd"},
                                   {"/usr/bin/python3.11", "python3", "/usr/bin/bash"},
                                   {"/usr/bin/cp", "cp", "/usr/bin/bash"},
                                   {"/usr/lib/libreoffice/program/soffice.bin", "soffice.bin", "/usr/bin/gnome-shell"}};
  static const char* kTrees[] = {"projects/vigil/src", "projects/billing/reports", "Documents/finance", "Downloads",
                                 ".cache/thumbnails"};
  const std::uint64_t kind = rng() % 100;
  const char* type = kTypes[kind < 30 ? 0 : kind < 92 ? 1 : 2];
  e.set_type(type);
  const auto& exe = kExes[rng() % 4];
  auto* p = e.mutable_process();
  p->set_pid(static_cast<std::uint32_t>(1000 + rng() % 30000));
  p->set_ppid(static_cast<std::uint32_t>(500 + rng() % 500));
  p->set_exe(exe[0]);
  p->set_comm(exe[1]);
  p->set_parent_exe(exe[2]);
  p->set_uid(e.login_uid());
  auto* f = e.mutable_file();
  const std::string home = user == "root" ? "/root/" : "/home/" + user + "/";
  f->set_path(home + kTrees[rng() % 5] + "/file-" + std::to_string(rng() % 5000) + ".txt");
  if (std::strcmp(type, "file.rename") == 0)
    f->set_old_path(home + kTrees[rng() % 5] + "/.~lock-" + std::to_string(rng() % 5000));
  f->set_size(rng() % (4u << 20));
  f->set_inode(1'000'000 + rng() % 10'000'000);
  f->set_mtime_ns(e.time_ns() - static_cast<std::int64_t>(rng() % 1'000'000'000));
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::uint64_t file_size(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

struct IngestResult {
  double store_seconds = 0;
  double decode_seconds = 0;
  std::uint64_t events = 0;
  std::uint64_t payload_bytes = 0;
  std::vector<double> call_ms;
};

bool ingest(EventStore& store, const Options& o, IngestResult& r) {
  const std::uint64_t total_batches = (o.events + o.batch_events - 1) / o.batch_events;
  // Spread each device's events evenly over --days ending at kEnd.
  const std::int64_t span = static_cast<std::int64_t>(o.days) * kDay;
  const std::int64_t step = bench::even_step(total_batches, o.devices, o.batch_events, span);
  std::vector<bench::DeviceStream> devices;
  for (int d = 0; d < o.devices; ++d) devices.emplace_back(d, user_of_device(d), kEnd - span, step);

  std::uint64_t made = 0;
  int next_device = 0;
  while (made < total_batches) {
    std::vector<v1::EventBatch> decoded;
    std::vector<std::string> payloads;
    std::vector<std::string> ids;
    for (int g = 0; g < o.group && made < total_batches; ++g, ++made) {
      bench::DeviceStream& dev = devices[next_device];
      next_device = (next_device + 1) % o.devices;
      auto batch = dev.next_batch(o.batch_events, fill_event);
      payloads.push_back(encode_batch(batch));
      ids.push_back(dev.id());
      // Ingest decodes (and so validates) every batch before storing it; time that apart.
      auto t0 = Clock::now();
      auto back = decode_batch(payloads.back(), {limits::kMaxDecompressedBytes, limits::kMaxBatchEvents});
      r.decode_seconds += seconds(Clock::now() - t0);
      if (!back) {
        std::fprintf(stderr, "bench_store: decode: %s\n", back.error().c_str());
        return false;
      }
      decoded.push_back(std::move(back).value());
    }
    std::vector<IncomingBatch> in;
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      in.push_back(IncomingBatch{ids[i], &decoded[i], payloads[i]});
      r.events += static_cast<std::uint64_t>(decoded[i].events_size());
      r.payload_bytes += payloads[i].size();
    }
    auto t0 = Clock::now();
    auto res = store.append_batches(in, kEnd);
    auto dt = Clock::now() - t0;
    if (!res) {
      std::fprintf(stderr, "bench_store: append: %s\n", res.error().c_str());
      return false;
    }
    for (const auto& a : *res)
      if (a.outcome != AppendOutcome::Stored) {
        std::fprintf(stderr, "bench_store: a fresh batch was not stored: %s\n", a.reason.c_str());
        return false;
      }
    r.store_seconds += seconds(dt);
    r.call_ms.push_back(seconds(dt) * 1e3);
  }
  return true;
}

struct QueryStats {
  double median_ms = 0;
  double max_ms = 0;
  std::size_t matches = 0;
};

bool time_query(EventStore& store, const EventQuery& q, int runs, QueryStats& s) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    auto r = store.query_events(q);
    ms.push_back(seconds(Clock::now() - t0) * 1e3);
    if (!r) {
      std::fprintf(stderr, "bench_store: query: %s\n", r.error().c_str());
      return false;
    }
    s.matches = r->size();
  }
  s.median_ms = bench::percentile(ms, 0.5);
  s.max_ms = bench::percentile(ms, 1.0);
  return true;
}

bool run(const Options& o, const std::string& sync) {
  const std::string path = (std::filesystem::path(o.dir) / ("bench_store-" + sync + "-" + std::to_string(getpid()) + ".db")).string();
  bench::remove_db(path);
  setenv("VIGIL_SQLITE_SYNC", sync.c_str(), 1);
  auto opened = open_sqlite_event_store(path);
  if (!opened) {
    std::fprintf(stderr, "bench_store: open %s: %s\n", path.c_str(), opened.error().c_str());
    return false;
  }
  auto store = std::move(opened).value();

  IngestResult in;
  if (!ingest(*store, o, in)) return false;
  std::printf("sync=%s ingest: %llu events in %zu calls of %d batches x %d events: %.2f s, %.0f events/s, "
              "%.1f MB/s of payload\n",
              sync.c_str(), static_cast<unsigned long long>(in.events), in.call_ms.size(), o.group, o.batch_events,
              in.store_seconds, static_cast<double>(in.events) / in.store_seconds,
              static_cast<double>(in.payload_bytes) / in.store_seconds / 1e6);
  std::printf("sync=%s append_batches latency (ack after commit): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              sync.c_str(), bench::percentile(in.call_ms, 0.5), bench::percentile(in.call_ms, 0.99),
              bench::percentile(in.call_ms, 1.0));
  std::printf("sync=%s decode_batch (ingest-side validation, not in the figure above): %.0f events/s\n", sync.c_str(),
              static_cast<double>(in.events) / in.decode_seconds);
  std::printf("sync=%s size: payload %.1f bytes/event, database %.1f MB + wal %.1f MB\n", sync.c_str(),
              static_cast<double>(in.payload_bytes) / static_cast<double>(in.events),
              static_cast<double>(file_size(path)) / 1e6, static_cast<double>(file_size(path + "-wal")) / 1e6);

  struct Named {
    const char* name;
    EventQuery q;
  };
  const std::string user = user_of_device(0);
  const std::vector<Named> queries{
      {"one user, last 30 days, limit 1000", {.user = user, .since_ns = kEnd - 30 * kDay, .until_ns = kEnd + 1}},
      {"one user, last 30 days, every match",
       {.user = user, .since_ns = kEnd - 30 * kDay, .until_ns = kEnd + 1, .limit = 100'000'000}},
      {"one user, file.rename, last 30 days, path glob, every match",
       {.user = user, .type = "file.rename", .path_glob = "*/Documents/*", .since_ns = kEnd - 30 * kDay,
        .until_ns = kEnd + 1, .limit = 100'000'000}},
      {"whole fleet, type prefix file., limit 1000", {.type = "file."}},
      {"one device, last 1 day, limit 1000", {.device_id = "dev-1", .since_ns = kEnd - kDay}},
  };
  for (const auto& nq : queries) {
    QueryStats s;
    if (!time_query(*store, nq.q, o.runs, s)) return false;
    std::printf("sync=%s query [%s] over %llu events: median %.2f ms, max %.2f ms of %d runs, %zu matches\n",
                sync.c_str(), nq.name, static_cast<unsigned long long>(in.events), s.median_ms, s.max_ms, o.runs,
                s.matches);
  }
  store.reset();
  if (!o.keep) bench::remove_db(path);
  else std::printf("sync=%s kept %s\n", sync.c_str(), path.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::printf("bench_store: %llu events, %d-event batches, %d batches per commit, %d devices over %d days, dir %s\n",
              static_cast<unsigned long long>(o.events), o.batch_events, o.group, o.devices, o.days, o.dir.c_str());
  std::fflush(stdout);
  std::vector<std::string> modes = o.sync == "both" ? std::vector<std::string>{"full", "normal"}
                                                    : std::vector<std::string>{o.sync};
  for (const auto& m : modes) {
    if (!run(o, m)) return 1;
    std::fflush(stdout);
  }
  return 0;
}
