// RunnableTasks: the running count of /proc/loadavg, parsed and read live.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "platform/linux/runnable_tasks.h"

using vigil::platform::parse_runnable_tasks;
using vigil::platform::RunnableTasks;

TEST_CASE("the running count is read from a /proc/loadavg line", "[runnable_tasks]") {
  CHECK(parse_runnable_tasks("0.52 0.58 0.59 3/421 12345\n") == 3u);
  CHECK(parse_runnable_tasks("12.00 8.50 4.25 17/2048 99") == 17u);
  CHECK_FALSE(parse_runnable_tasks(""));
  CHECK_FALSE(parse_runnable_tasks("0.52 0.58 0.59"));
  CHECK_FALSE(parse_runnable_tasks("0.52 0.58 0.59 /421 1"));
  CHECK_FALSE(parse_runnable_tasks("0.52 0.58 0.59 x3/421 1"));
  CHECK_FALSE(parse_runnable_tasks("0.52 0.58 0.59 3 421 1"));
}

TEST_CASE("busy threads count as runnable tasks", "[runnable_tasks]") {
  RunnableTasks runnable;
  auto alone = runnable.count();
  REQUIRE(alone);
  CHECK(*alone >= 1u);  // the asking thread is running
  // Three threads that never sleep are running or waiting for a CPU the whole time.
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<std::thread> busy;
  for (int i = 0; i < 3; ++i)
    busy.emplace_back([&] {
      ++started;
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  while (started < 3) std::this_thread::yield();
  auto crowded = runnable.count();
  stop = true;
  for (auto& t : busy) t.join();
  REQUIRE(crowded);
  CHECK(*crowded >= 4u);
}
