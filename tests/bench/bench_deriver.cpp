// What ActivityDeriver costs per file event, on real files in a temporary directory (page cache
// warm, as right after a write). For each scenario: the caller's (event loop's) CPU per event in
// on_file (content sniff, source matching, bursts), and the wall time from the first event until
// every derived event is out (flush_all), per classified file: one bounded read + SHA-256 +
// Hyperscan scan on the worker thread.
//   local-write     a write of an ordinary local text file: sniffed, nothing derived
//   local-archive   a gzip written locally: file.archive_created, classified
//   exfil-copy      read + create + write of a copy on a removable volume (the cp pattern)
// Usage: bench_deriver [files per scenario, default 10000] [file bytes, default 4096]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/activity_deriver.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put(const std::string& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

FileActivity act(FileAction action, const std::string& path, std::uint64_t size, std::uint32_t pid) {
  FileActivity a;
  a.action = action;
  a.path = path;
  a.size = size;
  a.time_ns = now_ns();
  a.process.pid = pid;
  a.process.exe = "/usr/bin/cp";
  a.process.user = "bench";
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  const std::size_t bytes = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 4096;
  char tmpl[] = "/tmp/vigil-bench-deriver-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/local");
  std::filesystem::create_directories(dir + "/stick");
  std::string text;
  // Ordinary prose with an e-mail address every 50 lines (dense matches cost the classifier more).
  for (int row = 0; text.size() < bytes; ++row)
    text += row % 50 == 0 ? "Contact alice@example.com for the figures of region 12345.\n"
                          : "Row of ordinary text about the quarterly plan and some numbers 12345.\n";
  text.resize(bytes);
  std::string gz = std::string("\x1f\x8b\x08\0\0\0\0\0\0\x03", 10);
  while (gz.size() < bytes) gz.push_back(static_cast<char>((gz.size() * 131) & 0xff));
  for (int i = 0; i < n; ++i) {
    put(dir + "/local/t" + std::to_string(i) + ".txt", text);
    put(dir + "/local/a" + std::to_string(i) + ".gz", gz);
    put(dir + "/stick/c" + std::to_string(i) + ".txt", text);
  }
  auto c = Classifier::create({});
  if (!c) {
    std::fprintf(stderr, "classifier: %s\n", c.error().c_str());
    return 1;
  }
  std::shared_ptr<const Classifier> classifier = std::move(*c);
  std::printf("bench_deriver: %d files per scenario, %zu bytes each\n", n, bytes);
  std::printf("%-14s %10s %14s %16s %10s\n", "scenario", "events", "loop us/event", "worker us/file", "derived");

  auto run = [&](const char* name, auto feed) {
    DerivationOptions o;
    o.shutdown_wait_ms = 600000;  // measure the classification, do not give up on it
    ActivityDeriver d(o, classifier);
    VolumeActivity v;
    v.mount_point = dir + "/stick";
    v.removable = true;
    d.on_volume(v);
    std::vector<v1::Event> out;
    out.reserve(static_cast<std::size_t>(n) * 4);
    std::uint64_t events = 0;
    const double cpu0 = thread_cpu_s();
    const auto w0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) events += feed(d, i, out);
    const double loop_cpu = thread_cpu_s() - cpu0;
    // Archives wait up to source_hold_ns for a read naming them a copy; flush_all resolves them.
    d.flush_all(out);
    d.wait_idle(600000);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    auto st = d.take_stats();
    std::printf("%-14s %10llu %14.2f %16.2f %10llu\n", name, static_cast<unsigned long long>(events),
                1e6 * loop_cpu / static_cast<double>(events), st.classified_files ? 1e6 * wall / static_cast<double>(st.classified_files) : 0.0,
                static_cast<unsigned long long>(st.derived_events + st.summarised_files));
  };
  run("local-write", [&](ActivityDeriver& d, int i, std::vector<v1::Event>& out) {
    d.on_file(act(FileAction::Write, dir + "/local/t" + std::to_string(i) + ".txt", bytes, 1), out);
    return 1;
  });
  run("local-archive", [&](ActivityDeriver& d, int i, std::vector<v1::Event>& out) {
    d.on_file(act(FileAction::Write, dir + "/local/a" + std::to_string(i) + ".gz", bytes, 2), out);
    return 1;
  });
  run("exfil-copy", [&](ActivityDeriver& d, int i, std::vector<v1::Event>& out) {
    const std::string dst = dir + "/stick/c" + std::to_string(i) + ".txt";
    d.on_file(act(FileAction::Create, dst, bytes, 3), out);
    d.on_file(act(FileAction::Write, dst, bytes, 3), out);
    d.on_file(act(FileAction::Read, dir + "/local/t" + std::to_string(i) + ".txt", bytes, 3), out);
    return 3;
  });
  std::filesystem::remove_all(dir);
  return 0;
}
