#include "platform/linux/security_state.h"

#include <dirent.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include "platform/linux/unique_fd.h"
#include "shared/time_util.h"

namespace vigil::platform {

namespace {

bool read_small(const std::string& path, std::string& out, std::size_t max = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.clear();
  char chunk[4096];
  while (out.size() < max && in.read(chunk, sizeof chunk).gcount() > 0)
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
  if (out.size() > max) out.resize(max);
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::string auditd_state(const std::string& proc_root) {
  DIR* d = ::opendir(proc_root.c_str());
  if (!d) return "unknown";
  bool running = false;
  while (dirent* e = ::readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::string comm;
    if (read_small(proc_root + "/" + e->d_name + "/comm", comm, 64) && trim(comm) == "auditd") {
      running = true;
      break;
    }
  }
  ::closedir(d);
  return running ? "running" : "stopped";
}

std::string apparmor_state(const std::string& sys_root) {
  std::string enabled;
  if (!read_small(sys_root + "/module/apparmor/parameters/enabled", enabled, 16)) return "absent";
  if (trim(enabled) != "Y") return "disabled";
  std::string profiles;
  if (!read_small(sys_root + "/kernel/security/apparmor/profiles", profiles)) return "enabled";
  // Lines: "name (mode)"; the mode is the last parenthesised word.
  std::map<std::string, unsigned> modes;
  std::istringstream in(profiles);
  std::string line;
  while (std::getline(in, line)) {
    auto open = line.rfind(" ("), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    ++modes[line.substr(open + 2, close - open - 2)];
  }
  std::string v = "enabled: " + std::to_string(modes["enforce"]) + " enforce, " + std::to_string(modes["complain"]) + " complain";
  unsigned other = 0;
  for (const auto& [m, n] : modes)
    if (m != "enforce" && m != "complain") other += n;
  if (other) v += ", " + std::to_string(other) + " other";
  return v;
}

std::string selinux_state(const std::string& sys_root) {
  std::string e;
  if (!read_small(sys_root + "/fs/selinux/enforce", e, 16)) return "absent";
  e = trim(e);
  return e == "1" ? "enforcing" : e == "0" ? "permissive" : "unknown";
}

}  // namespace

std::string kernel_audit_state() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT));
  if (!fd) return "unavailable";
  timeval tv{0, 200000};  // the kernel answers at once; never hang the agent on it
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "unavailable";
  nlmsghdr req{};
  req.nlmsg_len = NLMSG_LENGTH(0);
  req.nlmsg_type = AUDIT_GET;
  req.nlmsg_flags = NLM_F_REQUEST;
  req.nlmsg_seq = 1;
  if (::send(fd.get(), &req, req.nlmsg_len, 0) < 0) return "unavailable";
  alignas(nlmsghdr) char buf[8192];
  for (int tries = 0; tries < 4; ++tries) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return "unavailable";
    auto* h = reinterpret_cast<nlmsghdr*>(buf);
    if (h->nlmsg_type == NLMSG_ERROR) return "unavailable";  // EPERM: no CAP_AUDIT_CONTROL, or no audit
    if (h->nlmsg_type != AUDIT_GET || h->nlmsg_len > static_cast<std::size_t>(n)) continue;
    audit_status st{};
    std::memcpy(&st, NLMSG_DATA(h), std::min<std::size_t>(sizeof st, h->nlmsg_len - NLMSG_HDRLEN));
    return st.enabled == 2 ? "locked" : st.enabled == 1 ? "enabled" : "disabled";
  }
  return "unavailable";
}

std::vector<StateItem> read_security_state(const std::string& proc_root, const std::string& sys_root) {
  return {
      {"auditd", "auditd", auditd_state(proc_root)},
      {"lsm", "apparmor", apparmor_state(sys_root)},
      {"lsm", "selinux", selinux_state(sys_root)},
      {"audit", "kernel audit", kernel_audit_state()},
  };
}

std::vector<agent::SecurityChange> diff_security_state(const std::vector<StateItem>& before,
                                                       const std::vector<StateItem>& after) {
  std::vector<agent::SecurityChange> out;
  for (const auto& a : after)
    for (const auto& b : before)
      if (a.item == b.item && a.value != b.value) {
        agent::SecurityChange c;
        c.time_ns = now_ns();
        c.category = a.category;
        c.item = a.item;
        c.change = "state";
        c.old_value = b.value;
        c.new_value = a.value;
        out.push_back(std::move(c));
      }
  return out;
}

}  // namespace vigil::platform
