// Security state that has no change notification, read on demand and compared between reads:
//   auditd    "running" | "stopped"      (a process whose comm is "auditd", from /proc)
//   apparmor  "disabled" | "enabled: N enforce, M complain[, K other]" | "absent"
//             (/sys/module/apparmor/parameters/enabled, /sys/kernel/security/apparmor/profiles)
//   selinux   "enforcing" | "permissive" | "absent" (/sys/fs/selinux/enforce)
//   kernel audit  "enabled" | "disabled" | "locked" (enabled=2, immutable until reboot) |
//             "unavailable" (AUDIT_GET over NETLINK_AUDIT: `auditctl -e 0` turns auditing off
//             without stopping auditd)
// Paths are relative to proc_root and sys_root so tests can point them at fixtures.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "agent/capture.h"

namespace vigil::platform {

struct StateItem {
  std::string category;  // auditd | lsm | audit
  std::string item;      // auditd | apparmor | selinux | kernel audit
  std::string value;
};

std::vector<StateItem> read_security_state(const std::string& proc_root = "/proc",
                                           const std::string& sys_root = "/sys");

// The kernel's audit switch alone (AUDIT_GET), as read_security_state reports it.
std::string kernel_audit_state();

// The items whose value differs between two reads, as change "state" (old_value -> new_value).
std::vector<agent::SecurityChange> diff_security_state(const std::vector<StateItem>& before,
                                                       const std::vector<StateItem>& after);

}  // namespace vigil::platform
