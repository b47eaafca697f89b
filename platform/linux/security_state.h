// Security state that has no change notification, read on demand and compared between reads:
//   auditd    "running" | "stopped"      (a process whose comm is "auditd", from /proc)
//   apparmor  "disabled" | "enabled: N enforce, M complain[, K other]" | "absent"
//             (/sys/module/apparmor/parameters/enabled, /sys/kernel/security/apparmor/profiles)
//   selinux   "enforcing" | "permissive" | "absent" (/sys/fs/selinux/enforce)
// Paths are relative to proc_root and sys_root so tests can point them at fixtures.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "agent/capture.h"

namespace vigil::platform {

struct StateItem {
  std::string category;  // auditd | lsm
  std::string item;      // auditd | apparmor | selinux
  std::string value;
};

std::vector<StateItem> read_security_state(const std::string& proc_root = "/proc",
                                           const std::string& sys_root = "/sys");

// The items whose value differs between two reads, as change "state" (old_value -> new_value).
std::vector<agent::SecurityChange> diff_security_state(const std::vector<StateItem>& before,
                                                       const std::vector<StateItem>& after);

}  // namespace vigil::platform
