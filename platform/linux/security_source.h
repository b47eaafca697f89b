// SecuritySource: agent::SecurityActivitySource on Linux. Three watchers behind one pollable fd
// (an epoll set):
//  - NftWatch: the nftables ruleset of spec.netns_path, re-read at the end of every transaction
//    (netlink NEWGEN), with the process the kernel names;
//  - ConfigFileWatch: sudoers, PAM, sshd, audit and screen-lock files under spec.config_root, and
//    spec.agent_paths plus the running executable (/proc/self/exe) as tamper targets, by inotify
//    on their directories (symlinks in agent paths resolved at start);
//  - security state without notifications (auditd running, AppArmor, SELinux), read again every
//    spec.recheck_interval_ms (a timerfd in the same epoll set), which also picks up watched
//    directories that appeared unannounced.
// start() takes the baseline of all three and reports nothing. The firewall watch is optional when
// spec.netns_path is empty (no CAP_NET_ADMIN, no nf_tables: logged, the rest runs); a netns_path
// that cannot be entered is an error. See docs/SECURITY_SETTINGS.md.
// Not thread-safe: start() and drain() belong to one loop.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "agent/capture.h"
#include "platform/linux/config_file_watch.h"
#include "platform/linux/nft_watch.h"
#include "platform/linux/security_state.h"
#include "platform/linux/unique_fd.h"

namespace vigil::platform {

class SecuritySource : public agent::SecurityActivitySource {
 public:
  Status start(const agent::SecurityCaptureSpec& spec) override;
  int pollable_fd() const override { return epoll_.get(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::SecurityRecord&&)>& sink) override;
  bool firewall_watched() const { return nft_ != nullptr; }

 private:
  agent::SecurityCaptureSpec spec_;
  UniqueFd epoll_, timer_;
  std::unique_ptr<NftWatch> nft_;
  ConfigFileWatch files_;
  std::vector<StateItem> state_;
};

}  // namespace vigil::platform
