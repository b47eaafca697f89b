// bench_query: investigator query latency over a large store (docs/BENCHMARKS.md, section 4).
//
//   bench_query [--events N] [--users N] [--days N] [--batch-events N] [--runs N] [--dir DIR] [--keep]
//
// Fills an on-disk SQLite EventStore with --events events (default 10M) from --users devices,
// each mostly used by its own login user (plus root and a shared service account on every
// device, as real fleets have), spread over --days days ending now. Batches are generated and
// appended straight through EventStore::append_batches() (no TLS, no decode), so filling is quick.
// Then the 30-day query for one user is timed --runs times (median, max): the first page with
// its total through the store, the same through the HTTPS API handler (GET /api/v1/activity with
// JSON, pseudonym resolution, cursor signing), and walking every page of it. Also the same user
// filtered by the pseudonym an investigator without reveal_names sees, on /activity and /events.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "collector/activity/activity_cursor.h"
#include "collector/api/api_handler.h"
#include "collector/auth/auth_service.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/batch_codec.h"
#include "shared/crypto.h"
#include "shared/time_util.h"
#include "tests/bench/bench_events.h"

using namespace vigil;
using namespace vigil::collector;
using Clock = std::chrono::steady_clock;
namespace http = boost::beast::http;

namespace {

constexpr std::int64_t kDay = 86'400'000'000'000;

struct Options {
  std::uint64_t events = 10'000'000;
  int users = 100;
  int days = 60;
  int batch_events = 1000;
  int runs = 15;
  std::string dir = std::filesystem::temp_directory_path().string();
  bool keep = false;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "bench_query: %s\nusage: bench_query [--events N] [--users N] [--days N] [--batch-events N] [--runs N] "
               "[--dir DIR] [--keep]\n",
               msg.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    auto number = [&]() -> long long {
      std::string v = next();
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (!end || *end || n <= 0) usage("bad number for " + a + ": " + v);
      return n;
    };
    if (a == "--events") o.events = static_cast<std::uint64_t>(number());
    else if (a == "--users") o.users = static_cast<int>(number());
    else if (a == "--days") o.days = static_cast<int>(number());
    else if (a == "--batch-events") o.batch_events = static_cast<int>(number());
    else if (a == "--runs") o.runs = static_cast<int>(number());
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else usage("unknown argument " + a);
  }
  return o;
}

std::string user_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%03d", i);
  return buf;
}

// What one device's events are about: mostly file writes, some exfil to USB and shares,
// prints, classified files now and then.
void fill_event(v1::Event& e, const std::string& user, std::mt19937_64& rng) {
  static const char* kTrees[] = {"projects/vigil/src", "projects/billing/reports", "Documents/finance", "Downloads"};
  auto* p = e.mutable_process();
  p->set_pid(static_cast<std::uint32_t>(1000 + rng() % 30000));
  p->set_exe("/usr/bin/python3.11");
  const std::uint64_t kind = rng() % 1000;
  if (kind < 5) {
    e.set_type("print.job");
    e.mutable_print()->set_printer("office");
    e.mutable_print()->set_title("report " + std::to_string(rng() % 100));
    return;
  }
  e.set_type(kind < 15 ? "exfil.removable" : kind < 20 ? "exfil.network_share" : kind < 300 ? "file.create" : "file.write");
  auto* f = e.mutable_file();
  f->set_path("/home/" + user + "/" + kTrees[rng() % 4] + "/file-" + std::to_string(rng() % 5000) + ".txt");
  f->set_size(rng() % (4u << 20));
  if (kind < 40) {
    auto* c = f->mutable_classification();
    c->set_status("scanned");
    auto* x = c->add_findings();
    x->set_type(kind % 2 ? "credit_card" : "us_ssn");
    x->set_count(1 + static_cast<std::uint32_t>(rng() % 5));
  }
}

// CPU time of this thread: on a machine shared with builds, wall time mostly measures waiting.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string path = (std::filesystem::path(o.dir) / ("bench_query-" + std::to_string(getpid()) + ".db")).string();
  bench::remove_db(path);
  setenv("VIGIL_SQLITE_SYNC", "normal", 1);
  auto opened = open_sqlite_event_store(path);
  if (!opened) usage("open " + path + ": " + opened.error());
  auto store = std::move(opened).value();
  std::printf("bench_query: %llu events, %d users/devices, %d days, %d-event batches, db %s\n",
              static_cast<unsigned long long>(o.events), o.users, o.days, o.batch_events, path.c_str());
  std::fflush(stdout);

  // Fill: round-robin over devices, 16 batches per append call (a group commit).
  const std::int64_t end = now_ns();
  const std::int64_t span = static_cast<std::int64_t>(o.days) * kDay;
  const std::uint64_t batches = (o.events + o.batch_events - 1) / o.batch_events;
  const std::int64_t step = bench::even_step(batches, o.users, o.batch_events, span);
  std::vector<bench::DeviceStream> devices;
  for (int d = 0; d < o.users; ++d) devices.emplace_back(d, user_name(d), end - span, step);
  double gen_ms = 0, store_ms = 0, store_cpu_ms = 0;
  std::uint64_t made = 0, stored_events = 0;
  int next = 0;
  while (made < batches) {
    auto t0 = Clock::now();
    std::vector<v1::EventBatch> group;
    std::vector<std::string> payloads;
    for (int g = 0; g < 16 && made < batches; ++g, ++made) {
      group.push_back(devices[next].next_batch(o.batch_events, fill_event));
      payloads.push_back(encode_batch(group.back()));
      next = (next + 1) % o.users;
    }
    std::vector<IncomingBatch> in;
    for (std::size_t i = 0; i < group.size(); ++i) {
      in.push_back(IncomingBatch{group[i].device_id(), &group[i], payloads[i]});
      stored_events += static_cast<std::uint64_t>(group[i].events_size());
    }
    gen_ms += ms_since(t0);
    t0 = Clock::now();
    const double c0 = thread_cpu_ms();
    auto r = store->append_batches(in, end);
    store_cpu_ms += thread_cpu_ms() - c0;
    store_ms += ms_since(t0);
    if (!r) usage("append: " + r.error());
    if (made % 2000 == 0) {
      std::printf("  filled %llu events\n", static_cast<unsigned long long>(stored_events));
      std::fflush(stdout);
    }
  }
  std::printf("fill: %llu events; generating %.1f s, append_batches %.1f s = %.0f events/s (cpu %.1f s = %.0f events/s "
              "per core; synchronous=NORMAL)\n",
              static_cast<unsigned long long>(stored_events), gen_ms / 1e3, store_ms / 1e3,
              static_cast<double>(stored_events) / (store_ms / 1e3), store_cpu_ms / 1e3,
              static_cast<double>(stored_events) / (store_cpu_ms / 1e3));

  const std::string user = user_name(std::min(7, o.users - 1));
  auto time_it = [&](const char* name, auto&& fn) {
    std::vector<double> ms, cpu;
    std::string last;
    for (int i = 0; i < o.runs; ++i) {
      auto t0 = Clock::now();
      const double c0 = thread_cpu_ms();
      last = fn();
      cpu.push_back(thread_cpu_ms() - c0);
      ms.push_back(ms_since(t0));
    }
    std::printf("query [%s]: median %.2f ms (cpu %.2f ms), max %.2f ms of %d runs; %s\n", name,
                bench::percentile(ms, 0.5), bench::percentile(cpu, 0.5), bench::percentile(ms, 1.0), o.runs, last.c_str());
    std::fflush(stdout);
  };

  ActivityQuery q;
  q.users = {user};
  q.users_given = true;
  q.since_ns = end - 30 * kDay;
  q.limit = 100;
  q.count_total = true;
  time_it("store: one user, 30 days, first page of 100 + total", [&] {
    auto p = store->query_activity(q);
    if (!p) usage("query: " + p.error());
    return std::to_string(p->events.size()) + " events, total " + std::to_string(*p->total);
  });
  ActivityQuery q1000 = q;
  q1000.limit = 1000;
  time_it("store: one user, 30 days, first page of 1000 + total", [&] {
    auto p = store->query_activity(q1000);
    if (!p) usage("query: " + p.error());
    return std::to_string(p->events.size()) + " events, total " + std::to_string(*p->total);
  });
  ActivityQuery usb = q;
  usb.channel = "removable";
  time_it("store: one user, 30 days, channel removable + total", [&] {
    auto p = store->query_activity(usb);
    if (!p) usage("query: " + p.error());
    return std::to_string(p->events.size()) + " events, total " + std::to_string(*p->total);
  });

  ApiHandler h(*store, crypto::sha256_hex("bench-token"));
  ActivityCursors cursors(crypto::random_bytes(32));
  h.set_activity(&cursors, nullptr);
  time_it("API: GET /api/v1/activity?user=U&since=30d&limit=100&count=true", [&] {
    HttpRequest req{http::verb::get, "/api/v1/activity?user=" + user + "&since=30d&limit=100&count=true", 11};
    req.set(http::field::authorization, "Bearer bench-token");
    auto res = h.handle(req);
    if (res.result_int() != 200) usage("API answered " + std::to_string(res.result_int()) + ": " + res.body());
    return std::to_string(res.body().size()) + " bytes of JSON";
  });
  // Pseudonyms: an investigator without reveal_names filters by the pseudonym it is shown. The
  // filter must become the indexed user query, not a scan of everyone's events.
  {
    auto accounts = auth::AccountStore::open(path + ".auth.db");
    if (!accounts) usage("account store: " + accounts.error());
    auto pz = auth::Pseudonymizer::from_key_file(path + ".pseudonym.key");
    if (!pz) usage("pseudonym key: " + pz.error());
    const std::string pseudonym = pz->pseudonym(user);
    auth::AuthService svc(**accounts, *pz, nullptr, {});
    auto hash = auth::hash_password("bench investigator password");
    if (!hash) usage(hash.error());
    if (auto a = (*accounts)->add_account("ivan", *hash, {"investigators"}, now_ns()); !a) usage(a.error());
    auto token = svc.issue_token("ivan", "bench", "api", 3600 * 1'000'000'000LL);
    if (!token) usage(token.error());
    ApiHandler hp(*store, crypto::sha256_hex("bench-token"));
    hp.set_activity(&cursors, nullptr);
    hp.set_auth_service(&svc);
    auto get = [&](const std::string& target, const std::string& bearer) {
      HttpRequest req{http::verb::get, target, 11};
      req.set(http::field::authorization, "Bearer " + bearer);
      auto res = hp.handle(req);
      if (res.result_int() != 200) usage(target + ": API answered " + std::to_string(res.result_int()) + ": " + res.body());
      const auto at = res.body().find("\"count\":");
      return "count " + res.body().substr(at + 8, res.body().find_first_of(",}", at) - at - 8) + ", " +
             std::to_string(res.body().size()) + " bytes of JSON";
    };
    time_it("API pseudonymised: GET /api/v1/activity?user=PSEUDONYM&since=30d&limit=100&count=true",
            [&] { return get("/api/v1/activity?user=" + pseudonym + "&since=30d&limit=100&count=true", token->first); });
    time_it("API pseudonymised: GET /api/v1/events?user=PSEUDONYM&since=30d&limit=100",
            [&] { return get("/api/v1/events?user=" + pseudonym + "&since=30d&limit=100", token->first); });
    time_it("API real name (bootstrap token): GET /api/v1/events?user=U&since=30d&limit=100",
            [&] { return get("/api/v1/events?user=" + user + "&since=30d&limit=100", "bench-token"); });
    std::filesystem::remove(path + ".auth.db");
    std::filesystem::remove(path + ".auth.db-wal");
    std::filesystem::remove(path + ".auth.db-shm");
    std::filesystem::remove(path + ".pseudonym.key");
  }

  ActivityQuery walk = q;
  walk.count_total = false;
  walk.limit = 1000;
  time_it("store: one user, 30 days, every page of 1000", [&] {
    ActivityQuery w = walk;
    std::uint64_t n = 0, pages = 0;
    for (;;) {
      auto p = store->query_activity(w);
      if (!p) usage("query: " + p.error());
      n += p->events.size();
      ++pages;
      if (!p->next) break;
      w.after = p->next;
    }
    return std::to_string(n) + " events in " + std::to_string(pages) + " pages";
  });

  store.reset();
  if (o.keep) std::printf("kept %s\n", path.c_str());
  else bench::remove_db(path);
  return 0;
}
