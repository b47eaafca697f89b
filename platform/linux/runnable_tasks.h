// RunnableTasks: how many tasks are running or waiting for a CPU on this machine right now (the
// kernel's nr_running, /proc/loadavg's fourth field "running/total"), read through a descriptor
// opened once, so asking costs one pread. Used to tell whether a busy-polling thread would take
// a CPU from someone (more runnable tasks than CPUs) or only keep an otherwise idle one awake.
#pragma once
#include <optional>
#include <string_view>

#include "platform/linux/unique_fd.h"

namespace vigil::platform {

// The running count of a /proc/loadavg line ("0.52 0.58 0.59 3/421 12345" -> 3); nullopt when the
// text is not such a line.
std::optional<unsigned> parse_runnable_tasks(std::string_view loadavg);

class RunnableTasks {
 public:
  RunnableTasks();  // opens /proc/loadavg; when it cannot, count() says nullopt
  // Includes the calling thread. nullopt: unknown (no /proc, unreadable, unparsable).
  std::optional<unsigned> count() const;

 private:
  UniqueFd fd_;
};

}  // namespace vigil::platform
