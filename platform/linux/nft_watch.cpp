#include "platform/linux/nft_watch.h"

#include <fcntl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "platform/linux/line_diff.h"
#include "platform/linux/proc_info.h"
#include "shared/crypto.h"
#include "shared/time_util.h"

namespace vigil::platform {

Status run_in_netns(const std::string& netns_path, const std::function<void()>& fn) {
  if (netns_path.empty()) {
    fn();
    return {};
  }
  std::string error;
  // A thread of its own: setns() changes only the calling thread, and that thread then ends.
  std::thread t([&] {
    UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
      error = "open " + netns_path + ": " + std::strerror(errno);
      return;
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      error = "setns " + netns_path + ": " + std::strerror(errno);
      return;
    }
    fn();
  });
  t.join();
  if (!error.empty()) return err(error);
  return {};
}

Result<std::string> read_nft_ruleset(const std::string& netns_path) {
  std::string text, error;
  auto s = run_in_netns(netns_path, [&] {
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
      error = "nft_ctx_new failed";
      return;
    }
    nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_STATELESS);
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0) {
      const char* e = nft_ctx_get_error_buffer(ctx);
      error = std::string("nft list ruleset: ") + (e ? e : "failed");
      while (!error.empty() && error.back() == '\n') error.pop_back();
    } else if (const char* out = nft_ctx_get_output_buffer(ctx)) {
      text = out;
    }
    nft_ctx_free(ctx);
  });
  if (!s) return err(s.error());
  if (!error.empty()) return err(error);
  return text;
}

void parse_nft_notifications(std::string_view d, const std::function<void(const NftGeneration&)>& on_gen) {
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= d.size()) {
    nlmsghdr h;
    std::memcpy(&h, d.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > d.size() - off) return;
    std::string_view msg = d.substr(off, h.nlmsg_len);
    off += NLMSG_ALIGN(h.nlmsg_len);
    if (h.nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) continue;
    std::size_t a = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
    NftGeneration g;
    while (a + sizeof(nlattr) <= msg.size()) {
      nlattr at;
      std::memcpy(&at, msg.data() + a, sizeof at);
      if (at.nla_len < sizeof(nlattr) || at.nla_len > msg.size() - a) break;
      std::string_view val = msg.substr(a + NLA_HDRLEN, at.nla_len - NLA_HDRLEN);
      auto be32 = [&]() -> std::uint32_t {
        if (val.size() < 4) return 0;
        std::uint32_t v;
        std::memcpy(&v, val.data(), 4);
        return ntohl(v);
      };
      switch (at.nla_type & NLA_TYPE_MASK) {
        case NFTA_GEN_ID: g.id = be32(); break;
        case NFTA_GEN_PROC_PID: g.pid = be32(); break;
        case NFTA_GEN_PROC_NAME: g.proc_name = std::string(val.substr(0, val.find('\0'))); break;
        default: break;
      }
      a += NLA_ALIGN(at.nla_len);
    }
    on_gen(g);
  }
}

Status NftWatch::start(const std::string& netns_path) {
  netns_ = netns_path;
  std::string error;
  auto s = run_in_netns(netns_path, [&] {
    UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
    if (!fd) {
      error = std::string("netlink socket: ") + std::strerror(errno);
      return;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error = std::string("netlink bind: ") + std::strerror(errno);
      return;
    }
    int group = NFNLGRP_NFTABLES;
    if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
      error = std::string("join NFNLGRP_NFTABLES: ") + std::strerror(errno);
      return;
    }
    // A big ruleset load sends one message per rule; room for bursts before ENOBUFS.
    int rcv = 4 << 20;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    sock_ = std::move(fd);
  });
  if (!s) return s;
  if (!error.empty()) return err(error);
  // Baseline after subscribing, so a change in between is seen as a NEWGEN later.
  auto rs = read_nft_ruleset(netns_);
  if (!rs) return err(rs.error());
  ruleset_ = std::move(*rs);
  return {};
}

Result<std::optional<agent::SecurityChange>> NftWatch::drain(std::uint64_t& overflows) {
  bool changed = false;
  NftGeneration last;
  bool have_gen = false;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(sock_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        ++overflows;
        changed = true;
        continue;
      }
      return err(std::string("netlink recv: ") + std::strerror(errno));
    }
    if (n == 0) break;
    parse_nft_notifications(std::string_view(buf.data(), static_cast<std::size_t>(n)), [&](const NftGeneration& g) {
      last = g;
      have_gen = true;
      changed = true;
    });
  }
  if (!changed) return std::optional<agent::SecurityChange>();
  agent::SecurityChange c;
  c.time_ns = now_ns();
  if (have_gen && last.pid) {
    // Read at once: nft exits right after its commit; what is gone stays empty.
    c.process = read_process_info(static_cast<pid_t>(last.pid));
    c.process.pid = last.pid;
    if (c.process.comm.empty()) c.process.comm = last.proc_name;
    c.has_process = true;
  }
  auto rs = read_nft_ruleset(netns_);
  if (!rs) return err(rs.error());
  if (*rs == ruleset_) return std::optional<agent::SecurityChange>();
  c.category = "firewall";
  c.item = "nftables ruleset";
  c.change = "modified";
  c.old_digest = crypto::sha256_hex(ruleset_);
  c.new_digest = crypto::sha256_hex(*rs);
  auto d = line_diff(ruleset_, *rs);
  c.diff = std::move(d.text);
  c.lines_added = d.lines_added;
  c.lines_removed = d.lines_removed;
  c.changed_by = have_gen ? "nftables generation" : "";
  ruleset_ = std::move(*rs);
  return std::optional<agent::SecurityChange>(std::move(c));
}

}  // namespace vigil::platform
