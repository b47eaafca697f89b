// Host facts from uname(2) and /etc/os-release.
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "agent/capture.h"

namespace vigil::agent {

HostInfo host_info() {
  HostInfo h;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) h.hostname = name;
  std::string pretty = "Linux";
  std::ifstream f("/etc/os-release");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      pretty = line.substr(12);
      if (pretty.size() >= 2 && pretty.front() == '"') pretty = pretty.substr(1, pretty.size() - 2);
    }
  }
  struct utsname u {};
  if (uname(&u) == 0) pretty += std::string("; ") + u.sysname + " " + u.release + " " + u.machine;
  h.os = pretty;
  return h;
}

}  // namespace vigil::agent
