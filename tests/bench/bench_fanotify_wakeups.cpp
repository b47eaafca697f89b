// What a fanotify listener costs the process that writes, apart from anything the listener does
// with the records: a child creates N small files (open, write, close; the agent's workload in
// bench_agent_overhead.sh without bash) while a listener thread of this process, with the
// agent's init flags and filesystem mark, reads and discards what arrives. Modes, rotated per
// round: no listener; reading on every wakeup; pausing 20 ms after each wakeup before reading
// (the agent's capture_batch_ms); the same two with read-only closes marked too. Reported per
// mode: the child's median user+system CPU and wall time.
// Usage: bench_fanotify_wakeups DIR [files per run, default 50000] [rounds, default 3]
//        bench_fanotify_wakeups --listen DIR [--no-reads] [--no-target-fid] [--no-create]: only the listener
//        (the agent's mask with read-only closes, pausing 20 ms after each wakeup) on DIR's
//        filesystem, until SIGTERM/SIGINT; the kernel's share of bench_agent_overhead.sh (its
//        "kernel*" modes). --no-reads leaves read-only closes out of the mask (the agent's mask
//        while nothing removable is mounted: "kernel" there), --no-target-fid the entry's own
//        handle out of the records, --no-create creations (what the create records cost).
// DIR should be on a filesystem nothing deleted many files from lately (ext4 scans for recently
// deleted inodes when it allocates): docs/BENCHMARKS.md §7 runs it on a fresh loop-mounted ext4.
// Needs root (fanotify filesystem marks).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Mode {
  const char* name;
  bool listen;
  bool reads;
  int pause_ms;
};

constexpr std::uint64_t kAgentMask = FAN_CREATE | FAN_CLOSE_WRITE | FAN_DELETE | FAN_ONDIR | FAN_RENAME;

// Creates `files` files under dir (100 per directory) in a child; its CPU seconds and wall seconds.
std::pair<double, double> write_files(const std::string& dir, int files) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::mkdir(dir.c_str(), 0755);
    std::string sub;
    for (int i = 0; i < files; ++i) {
      if (i % 100 == 0) {
        sub = dir + "/d" + std::to_string(i / 100);
        ::mkdir(sub.c_str(), 0755);
      }
      std::string path = sub + "/f" + std::to_string(i);
      int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) ::_exit(1);
      static const char kBody[] = "some content of a small file\n";
      if (::write(fd, kBody, sizeof kBody - 1) < 0) ::_exit(1);
      ::close(fd);
    }
    ::_exit(0);
  }
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_fanotify_wakeups: the writer failed in %s\n", dir.c_str());
    std::exit(1);
  }
  double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {cpu, wall};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

// Reads and discards what arrives, pausing pause_ms after each wakeup, until stop.
void listen(int fan, int pause_ms, const std::atomic<bool>& stop, std::atomic<long long>& woke) {
  static char buf[256 * 1024];
  while (!stop) {
    pollfd p{fan, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ++woke;
    if (pause_ms) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    while (::read(fan, buf, sizeof buf) > 0) {
    }
  }
}

int open_listener(const std::string& root, bool reads, bool target_fid = true, bool creates = true) {
  const std::uint64_t mask = (creates ? kAgentMask : kAgentMask & ~std::uint64_t{FAN_CREATE}) | (reads ? FAN_CLOSE_NOWRITE : 0);
  const unsigned report = target_fid ? FAN_REPORT_DFID_NAME_TARGET : FAN_REPORT_DFID_NAME | FAN_REPORT_FID;
  int fan = ::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | report, O_RDONLY);
  if (fan < 0 || ::fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, root.c_str()) != 0) {
    std::perror("bench_fanotify_wakeups: fanotify (needs root and Linux >= 5.17)");
    std::exit(1);
  }
  return fan;
}

std::atomic<bool> g_stop{false};

int listen_until_signalled(const std::string& root, bool reads, bool target_fid, bool creates) {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  int fan = open_listener(root, reads, target_fid, creates);
  std::atomic<long long> woke{0};
  listen(fan, 20, g_stop, woke);
  ::close(fan);
  std::printf("listened on %s: %lld wakeups\n", root.c_str(), static_cast<long long>(woke));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--listen") {
    bool reads = true, target_fid = true, creates = true;
    for (int i = 3; i < argc; ++i) {
      const std::string opt = argv[i];
      if (opt == "--no-reads") reads = false;
      else if (opt == "--no-target-fid") target_fid = false;
      else if (opt == "--no-create") creates = false;
      else {
        std::fprintf(stderr, "bench_fanotify_wakeups --listen DIR: unknown option %s\n", argv[i]);
        return 2;
      }
    }
    return listen_until_signalled(argv[2], reads, target_fid, creates);
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_fanotify_wakeups DIR [files] [rounds]\n");
    return 2;
  }
  const std::string root = argv[1];
  const int files = argc > 2 ? std::atoi(argv[2]) : 50000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::vector<Mode> modes{{"no listener", false, false, 0},
                                {"read on every wakeup", true, false, 0},
                                {"pause 20 ms after a wakeup", true, false, 20},
                                {"every wakeup, + read-only closes", true, true, 0},
                                {"pause 20 ms, + read-only closes", true, true, 20}};
  std::vector<std::vector<double>> cpu(modes.size()), wall(modes.size());
  std::vector<long long> wakeups(modes.size());
  int run = 0;
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t k = 0; k < modes.size(); ++k) {
      const std::size_t m = (k + static_cast<std::size_t>(r)) % modes.size();  // rotate the order
      const Mode& mode = modes[m];
      int fan = -1;
      std::atomic<bool> stop{false};
      std::atomic<long long> woke{0};
      std::thread listener;
      if (mode.listen) {
        fan = open_listener(root, mode.reads);
        listener = std::thread([&, pause = mode.pause_ms] { listen(fan, pause, stop, woke); });
      }
      auto [c, w] = write_files(root + "/run" + std::to_string(++run), files);
      stop = true;
      if (listener.joinable()) listener.join();
      if (fan >= 0) ::close(fan);
      cpu[m].push_back(c);
      wall[m].push_back(w);
      wakeups[m] += woke;
    }
  }
  std::printf("%d files per run, %d rounds, medians\n%-36s %10s %10s %12s %16s\n", files, rounds, "mode", "writer CPU s",
              "wall s", "vs no listener", "wakeups per run");
  const double base = median(cpu[0]);
  for (std::size_t m = 0; m < modes.size(); ++m)
    std::printf("%-36s %10.2f %10.2f %+11.0f%% %16lld\n", modes[m].name, median(cpu[m]), median(wall[m]),
                100 * (median(cpu[m]) - base) / base, wakeups[m] / rounds);
  return 0;
}
