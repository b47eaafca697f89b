// run_hosted on Linux: the agent runs as batch work (SCHED_BATCH), its threads too. Checked in a
// child process, since the policy sticks to the thread that set it. Tag: [service_host].
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "agent/capture.h"

TEST_CASE("the agent runs as batch work, and so do the threads it starts", "[service_host]") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = vigil::agent::run_hosted([] {
      if (::sched_getscheduler(0) != SCHED_BATCH) return 3;
      int in_thread = -1;
      std::thread([&] { in_thread = ::sched_getscheduler(0); }).join();
      return in_thread == SCHED_BATCH ? 0 : 4;
    });
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  INFO("3: the body ran under another policy; 4: a thread it started did");
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(::sched_getscheduler(0) == SCHED_OTHER);  // the test process itself is untouched
}
