// End to end through the real binaries: collector init/run, token, agent enroll/run with real
// fanotify capture, mutual TLS over loopback, queries through vigilctl.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

// Every seq from 1 to the highest exactly once.
void require_contiguous(const std::vector<json::object>& events) {
  std::vector<std::uint64_t> seqs;
  for (const auto& e : events) seqs.push_back(u64(e, "seq"));
  std::sort(seqs.begin(), seqs.end());
  REQUIRE(!seqs.empty());
  CHECK(seqs.front() == 1);
  std::set<std::uint64_t> distinct(seqs.begin(), seqs.end());
  CHECK(distinct.size() == seqs.size());  // none twice
  CHECK(seqs.back() == seqs.size());      // none missing
}

std::set<std::string> created_paths_under(const std::vector<json::object>& events, const std::string& dir) {
  std::set<std::string> paths;
  for (const auto& e : events)
    if (str(e, "type") == "file.create" && str(e, "path").rfind(dir + "/", 0) == 0) paths.insert(str(e, "path"));
  return paths;
}

}  // namespace

TEST_CASE("an enrolled agent's file activity reaches the collector with user, process and seq", "[e2e]") {
  Deployment d("e2e-basic");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  Process agent = d.start_agent(adir, {watched});
  std::string device = d.device_id(adir);
  REQUIRE(!device.empty());
  std::this_thread::sleep_for(1500ms);  // capture marks are placed during start-up

  for (int i = 0; i < 20; ++i) write_file(watched + "/f" + std::to_string(i) + ".txt", "content " + std::to_string(i));
  std::filesystem::rename(watched + "/f0.txt", watched + "/renamed.txt");
  std::filesystem::remove(watched + "/f1.txt");

  std::vector<json::object> events;
  bool ok = eventually([&] {
    events = d.events(device);
    std::set<std::string> types;
    for (auto& e : events) types.insert(str(e, "type"));
    return created_paths_under(events, watched).size() >= 20 && types.count("file.rename") && types.count("file.delete");
  }, 30s);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(ok);
  require_contiguous(events);
  for (const auto& e : events) {
    if (str(e, "type").rfind("file.", 0) != 0) continue;
    CHECK(str(e, "device_id") == device);
    CHECK(!str(e, "user").empty());
    CHECK(u64(e, "pid") > 0);
    CHECK(!str(e, "time").empty());
  }
  bool saw_rename = false;
  for (const auto& e : events)
    if (str(e, "type") == "file.rename") {
      CHECK(str(e, "old_path") == watched + "/f0.txt");
      CHECK(str(e, "path") == watched + "/renamed.txt");
      saw_rename = true;
    }
  CHECK(saw_rename);

  // Filters through the API.
  auto only_deletes = d.events(device, "file.delete");
  REQUIRE(!only_deletes.empty());
  for (auto& e : only_deletes) CHECK(str(e, "type") == "file.delete");
  auto glob = d.ctl({"events", "--json", "--path", watched + "/f1*.txt", "--limit", "1000"});
  REQUIRE(glob.exit_code == 0);
  CHECK(glob.out.find("/f12.txt") != std::string::npos);
  CHECK(glob.out.find("/f2.txt") == std::string::npos);

  auto devs = d.ctl({"devices", "--json"});
  REQUIRE(devs.exit_code == 0);
  auto dev = json::parse(devs.out.substr(0, devs.out.find('\n'))).as_object();
  CHECK(str(dev, "device_id") == device);
  CHECK(u64(dev, "events_received") >= 22);
  CHECK(!str(dev, "hostname").empty());

  agent.signal(SIGTERM);
  REQUIRE(agent.wait(10s) == 0);
}

TEST_CASE("killing the agent and the collector repeatedly loses no file and duplicates no seq", "[e2e][kill]") {
  Deployment d("e2e-kill");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  std::string device = d.device_id(adir);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1000ms);

  constexpr int kFiles = 400;
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kFiles; ++i) {
      write_file(watched + "/doc-" + std::to_string(i) + ".dat", std::string(100 + i, 'x'));
      written++;
      std::this_thread::sleep_for(15ms);
    }
  });
  std::mt19937 rng(42);
  int agent_kills = 0;
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600 + rng() % 700));
    agent.kill_hard();
    agent_kills++;
    if (round == 1) {
      d.kill_collector();  // the collector dies too, mid-stream
      std::this_thread::sleep_for(500ms);
      d.start_collector();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 500));  // files written while down
    agent = d.start_agent(adir, {watched});
  }
  writer.join();
  REQUIRE(written.load() == kFiles);

  std::vector<json::object> events;
  bool all = eventually([&] {
    events = d.events(device);
    return created_paths_under(events, watched).size() >= static_cast<std::size_t>(kFiles);
  }, 60s, 500ms);
  INFO("agent log: " << slurp(adir + ".log"));
  CHECK(created_paths_under(events, watched).size() == static_cast<std::size_t>(kFiles));
  REQUIRE(all);
  // Let the agent finish uploading anything else (health, writes) before judging the seqs.
  std::this_thread::sleep_for(1500ms);
  events = d.events(device);
  require_contiguous(events);
  int gaps = 0;
  for (const auto& e : events)
    if (str(e, "type") == "agent.gap") {
      gaps++;
      CHECK(str(e, "from") <= str(e, "to"));
    }
  CHECK(gaps == agent_kills);
  agent.signal(SIGTERM);
  CHECK(agent.wait(10s) == 0);
}

TEST_CASE("events produced while the collector is unreachable all arrive when it returns", "[e2e][network]") {
  Deployment d("e2e-net");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  std::string device = d.device_id(adir);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1000ms);
  write_file(watched + "/before.txt", "x");
  REQUIRE(eventually([&] { return created_paths_under(d.events(device), watched).size() == 1; }, 20s));

  d.stop_collector();
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) write_file(watched + "/offline-" + std::to_string(i), "y");
  std::this_thread::sleep_for(3s);  // the agent retries with backoff meanwhile
  CHECK(agent.running());
  d.start_collector();

  std::vector<json::object> events;
  bool all = eventually([&] {
    events = d.events(device);
    return created_paths_under(events, watched).size() == kFiles + 1;
  }, 60s, 500ms);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(all);
  require_contiguous(events);
}

// A storm is drained on the batch timer with the fanotify fd out of the loop's poll; once a drain
// finds nothing the agent watches the fd again. Both halves: every file of a storm that spans
// many batches arrives, and so does a lone file written after the storm went quiet (it is only
// seen if the agent went back to the poll).
TEST_CASE("a storm spanning many capture batches arrives whole, and so does a lone file after it", "[e2e][batch]") {
  Deployment d("e2e-batch");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  std::string device = d.device_id(adir);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1000ms);

  constexpr int kStorm = 3000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kStorm; ++i) {
    write_file(watched + "/storm-" + std::to_string(i), "z");
    if (i % 100 == 99) std::this_thread::sleep_for(5ms);  // spread over many 20 ms batches
  }
  const auto storm = std::chrono::steady_clock::now() - t0;
  INFO("storm took " << std::chrono::duration_cast<std::chrono::milliseconds>(storm).count() << " ms");
  CHECK(storm > 100ms);
  REQUIRE(eventually([&] { return created_paths_under(d.events(device), watched).size() == kStorm; }, 60s, 500ms));

  std::this_thread::sleep_for(1000ms);  // quiet: the agent is back on the poll
  write_file(watched + "/after-the-storm.txt", "a lone file");
  std::vector<json::object> events;
  bool lone = eventually([&] {
    events = d.events(device);
    return created_paths_under(events, watched).count(watched + "/after-the-storm.txt") == 1;
  }, 20s);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(lone);
  CHECK(created_paths_under(events, watched).size() == kStorm + 1);
  require_contiguous(events);
  agent.signal(SIGTERM);
  CHECK(agent.wait(10s) == 0);
}

TEST_CASE("enrollment refuses unknown, expired and used-up tokens with a clear message", "[e2e][enroll]") {
  Deployment d("e2e-enroll");
  d.start_collector();
  auto enroll = [&](const std::string& token, const std::string& name) {
    return run_command({bin("vigil-agent"), "enroll", "--server", "127.0.0.1:" + std::to_string(d.ingest_port()),
                        "--token", token, "--ca", d.ca(), "--data-dir", d.dir() + "/" + name});
  };
  auto unknown = enroll("not-a-real-token", "u");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("unknown") != std::string::npos);

  std::string once = d.mint_token(1, "1h");
  CHECK(enroll(once, "first").exit_code == 0);
  auto again = enroll(once, "second");
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("no uses left") != std::string::npos);

  std::string brief = d.mint_token(5, "1s");
  std::this_thread::sleep_for(2100ms);
  auto late = enroll(brief, "late");
  CHECK(late.exit_code == 1);
  CHECK(late.err.find("expired") != std::string::npos);

  // A CA that is not the collector's: the agent refuses the server during the handshake.
  Deployment other("e2e-enroll-other");
  auto wrong_ca = run_command({bin("vigil-agent"), "enroll", "--server", "127.0.0.1:" + std::to_string(d.ingest_port()),
                               "--token", d.mint_token(), "--ca", other.ca(), "--data-dir", d.dir() + "/wrongca"});
  CHECK(wrong_ca.exit_code == 1);
  CHECK(wrong_ca.err.find("handshake") != std::string::npos);
}

TEST_CASE("a spool over its cap drops the oldest batches and accounts for every dropped seq", "[e2e][spoolcap]") {
  Deployment d("e2e-cap");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  // The smallest cap the configuration accepts: 1 MiB of compressed batches.
  std::string cfg = slurp(adir + "/agent.toml");
  auto at = cfg.find("max_bytes = ");
  REQUIRE(at != std::string::npos);
  cfg.replace(at, cfg.find('\n', at) - at, "max_bytes = 1048576");
  spit(adir + "/agent.toml", cfg);
  std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  std::string device = d.device_id(adir);
  Process agent = d.start_agent(adir, {watched});
  std::this_thread::sleep_for(1000ms);

  d.stop_collector();
  // Random names defeat compression: ~2 events of ~40 compressed bytes per file, well over
  // 1 MiB while nothing can be uploaded.
  std::mt19937_64 names(7);
  for (int i = 0; i < 30000; ++i) {
    char name[40];
    std::snprintf(name, sizeof name, "%016llx%016llx", static_cast<unsigned long long>(names()),
                  static_cast<unsigned long long>(names()));
    write_file(watched + "/" + name, "z");
    if (i % 2000 == 1999) std::this_thread::sleep_for(50ms);  // let the agent keep up with the kernel queue
  }
  std::this_thread::sleep_for(2s);
  d.start_collector();

  std::vector<json::object> events, losses;
  bool settled = eventually([&] {
    events = d.events(device);
    losses.clear();
    for (auto& e : events)
      if (str(e, "type") == "agent.loss" && str(e, "reason") == "spool_bytes_cap") losses.push_back(e);
    if (losses.empty()) return false;
    std::uint64_t highest = 0;
    for (auto& e : events) highest = std::max(highest, u64(e, "seq"));
    std::uint64_t lost = 0;
    for (auto& l : losses) lost += u64(l, "events");
    return events.size() + lost == highest;
  }, 60s, 1s);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(settled);

  // Every seq from 1 to the highest is either stored once or inside a reported loss range.
  std::set<std::uint64_t> stored;
  std::uint64_t highest = 0;
  for (auto& e : events) {
    CHECK(stored.insert(u64(e, "seq")).second);
    highest = std::max(highest, u64(e, "seq"));
  }
  std::uint64_t covered = 0;
  for (auto& l : losses) {
    std::uint64_t first = u64(l, "first_seq"), last = u64(l, "last_seq");
    REQUIRE(first >= 1);
    REQUIRE(last >= first);
    for (std::uint64_t s = first; s <= last; ++s)
      if (!stored.count(s)) covered++;
    CHECK(u64(l, "batches") >= 1);
  }
  CHECK(stored.size() + covered == highest);
  auto devs = d.ctl({"devices", "--json"});
  REQUIRE(devs.exit_code == 0);
  auto dev = json::parse(devs.out.substr(0, devs.out.find('\n'))).as_object();
  CHECK(u64(dev, "events_lost") == covered);
}
