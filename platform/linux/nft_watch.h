// NftWatch: the nftables ruleset of one network namespace, re-read whenever a transaction ends.
//
// Promises:
//  - notifications come from the kernel itself: a NETLINK_NETFILTER socket in NFNLGRP_NFTABLES,
//    opened inside the watched namespace (a socket stays bound to the namespace it was made in);
//  - every NFT_MSG_NEWGEN (the end of a committed transaction) leads to one re-read of the ruleset
//    (libnftables "list ruleset", stateless so packet counters are not changes), in that namespace;
//    several generations read in one drain are one re-read, attributed to the last of them;
//  - a change is reported only when the ruleset text differs: old/new sha256, a bounded line diff,
//    lines added/removed, and the process the kernel named in the generation (NFTA_GEN_PROC_PID /
//    NFTA_GEN_PROC_NAME; /proc is read at once, the name stays when the process is gone);
//  - a receive-buffer overrun (ENOBUFS) is counted as an overflow and forces a re-read, so a change
//    is never missed, only its attribution.
// Not thread-safe; start() and drain() belong to one loop (short-lived threads enter the namespace).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agent/capture.h"
#include "platform/linux/unique_fd.h"
#include "shared/result.h"

namespace vigil::platform {

// The ruleset as `nft -s list ruleset` prints it, read in netns_path ("" = ours).
Result<std::string> read_nft_ruleset(const std::string& netns_path);

// Runs fn on a short-lived thread that has entered the network namespace at netns_path (or on
// this thread when it is empty). The namespace of the calling thread never changes.
Status run_in_netns(const std::string& netns_path, const std::function<void()>& fn);

// One NEWGEN as the kernel sent it.
struct NftGeneration {
  std::uint32_t id = 0;
  std::uint32_t pid = 0;
  std::string proc_name;
};
// Parses one netlink datagram; calls on_gen for each NEWGEN in it. Malformed input is skipped.
void parse_nft_notifications(std::string_view datagram, const std::function<void(const NftGeneration&)>& on_gen);

class NftWatch {
 public:
  Status start(const std::string& netns_path);
  int fd() const { return sock_.get(); }
  // Reads what is pending; a change of the ruleset, if any. overflows: kernel drops seen.
  Result<std::optional<agent::SecurityChange>> drain(std::uint64_t& overflows);

 private:
  std::string netns_;
  UniqueFd sock_;
  std::string ruleset_;
};

}  // namespace vigil::platform
