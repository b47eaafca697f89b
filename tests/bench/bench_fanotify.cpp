// How fast FanotifySource::drain() turns queued kernel records into activities.
// Queues N file creations (create + close-write each; the kernel often merges the two into one
// record) without draining, then times the drain() calls alone (wall and thread cpu), for three cases: reported (inside the watch path), filtered out (same
// filesystem, outside the watch path), and reported from many short-lived processes (every record
// a /proc miss); and read-only closes (CaptureSpec::report_reads, as the agent runs it), reported
// and filtered out. Needs root. Usage: bench_fanotify [--no-proc-connector] [files, default 6000; keep
// 2*files < 16384, the kernel queue]. --no-proc-connector: processes read from /proc at drain time
// only (what the source does when it may not listen to process events), for comparison.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <string>

#include "platform/linux/fanotify_source.h"

using vigil::agent::FileActivity;
using vigil::platform::FanotifySource;

namespace {

std::string make_temp_dir() {
  char tmpl[] = "/tmp/vigil-bench-fan-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  if (p == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return p;
}

void create_files(const std::string& dir, int n, const char* prefix) {
  for (int i = 0; i < n; ++i) {
    std::string path = dir + "/" + prefix + std::to_string(i);
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::perror("open");
      std::exit(1);
    }
    ::close(fd);
  }
}

// Opens each file read-only, reads a byte, closes it: one FAN_CLOSE_NOWRITE each (report_reads).
void read_files(const std::string& dir, int n, const char* prefix) {
  for (int i = 0; i < n; ++i) {
    std::string path = dir + "/" + prefix + std::to_string(i);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char c;
    if (fd >= 0 && ::read(fd, &c, 1) >= 0) ::close(fd);
  }
}

// Every file from its own short-lived process: ProcessInfo cannot come from the cache.
void create_files_forked(const std::string& dir, int n) {
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string path = dir + "/p" + std::to_string(i);
      int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      ::_exit(fd >= 0 ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
}

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void drain_and_report(FanotifySource& src, const char* label) {
  const auto records0 = src.counters().records;
  std::uint64_t activities = 0, overflows = 0, with_exe = 0;
  double wall = 0, cpu = 0;
  for (;;) {
    pollfd p{src.pollable_fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) break;  // queue empty for 200 ms: done
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    auto r = src.drain([&](FileActivity&& a) { with_exe += !a.process.exe.empty(); });
    cpu += cpu_seconds() - c0;
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      std::fprintf(stderr, "drain: %s\n", r.error().c_str());
      std::exit(1);
    }
    activities += r->activities;
    overflows += r->overflows;
  }
  const auto records = src.counters().records - records0;
  std::printf("%s: %llu records, %llu activities (%llu with exe), %llu overflows\n"
              "    wall %.1f ms: %.0f records/s, %.0f activities/s\n"
              "    cpu  %.1f ms: %.0f records/s, %.0f activities/s\n",
              label, static_cast<unsigned long long>(records),
              static_cast<unsigned long long>(activities), static_cast<unsigned long long>(with_exe),
              static_cast<unsigned long long>(overflows),
              wall * 1000, static_cast<double>(records) / wall, static_cast<double>(activities) / wall,
              cpu * 1000, static_cast<double>(records) / cpu, static_cast<double>(activities) / cpu);
}

}  // namespace

int main(int argc, char** argv) {
  bool proc_connector = true;
  int files = 6000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-proc-connector") == 0) {
      proc_connector = false;
    } else {
      files = std::atoi(argv[i]);
    }
  }
  const std::string watched = make_temp_dir(), other = make_temp_dir();
  FanotifySource::Options opt;
  opt.drop_own_events = false;  // this process is the workload
  opt.use_proc_connector = proc_connector;
  FanotifySource src(opt);
  vigil::agent::CaptureSpec spec{{watched}, {}};
  spec.report_reads = true;  // as the agent runs it; the write scenarios do no reads
  if (auto st = src.start(spec); !st.ok()) {
    std::fprintf(stderr, "start: %s\n", st.error().c_str());
    return 1;
  }
  std::printf("process connector: %s\n", src.using_proc_connector() ? "on" : "off");
  create_files(watched, files, "a");
  drain_and_report(src, "reported, one process");
  create_files(other, files, "b");
  drain_and_report(src, "filtered out (same fs, outside watch path)");
  read_files(watched, files, "a");
  drain_and_report(src, "reads reported (report_reads)");
  read_files(other, files, "b");
  drain_and_report(src, "reads filtered out (same fs, outside watch path)");
  create_files_forked(watched, files / 4);
  drain_and_report(src, "reported, a fresh process per file");
  const auto& c = src.counters();
  std::printf("dir cache hits %llu misses %llu, unresolved %llu; process events %llu (lost %llu), "
              "drains that waited for them in vain %llu\n",
              static_cast<unsigned long long>(c.dir_cache_hits),
              static_cast<unsigned long long>(c.dir_cache_misses),
              static_cast<unsigned long long>(c.unresolved),
              static_cast<unsigned long long>(c.process_events),
              static_cast<unsigned long long>(c.process_events_lost),
              static_cast<unsigned long long>(c.process_sync_timeouts));
  std::filesystem::remove_all(watched);
  std::filesystem::remove_all(other);
  return 0;
}
