#include "platform/linux/runnable_tasks.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace vigil::platform {

std::optional<unsigned> parse_runnable_tasks(std::string_view loadavg) {
  // Three load averages, then "running/total".
  std::size_t pos = 0;
  for (int field = 0; field < 3; ++field) {
    pos = loadavg.find(' ', pos);
    if (pos == std::string_view::npos) return std::nullopt;
    ++pos;
  }
  const std::size_t slash = loadavg.find('/', pos);
  if (slash == std::string_view::npos || slash == pos) return std::nullopt;
  unsigned n = 0;
  auto [end, ec] = std::from_chars(loadavg.data() + pos, loadavg.data() + slash, n);
  if (ec != std::errc{} || end != loadavg.data() + slash) return std::nullopt;
  return n;
}

RunnableTasks::RunnableTasks() : fd_(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC)) {}

std::optional<unsigned> RunnableTasks::count() const {
  if (!fd_) return std::nullopt;
  char buf[128];
  // A seq_file: each read at offset 0 renders the line afresh.
  const ssize_t n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  return parse_runnable_tasks(std::string_view(buf, static_cast<std::size_t>(n)));
}

}  // namespace vigil::platform
