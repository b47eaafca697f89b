// Security settings and agent tamper against the real subsystems: an nftables ruleset changed by
// the real nft(8) inside a network namespace the test makes, sudoers/sshd/PAM/dconf files edited,
// created, replaced and deleted under a temporary config root, the agent's own files touched, and
// a process named auditd started and stopped; plus the line diff as logic. Needs root. Tag: [security].
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/audit.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/event_source.h"
#include "agent/security_event_source.h"
#include "platform/linux/line_diff.h"
#include "platform/linux/nft_watch.h"
#include "platform/linux/security_source.h"
#include "platform/linux/security_state.h"
#include "shared/crypto.h"
#include "tests/unit/test_support.h"

using namespace std::chrono_literals;
using vigil::agent::SecurityChange;
using vigil::agent::SecurityRecord;
using vigil::agent::TamperActivity;
namespace fs = std::filesystem;
namespace vp = vigil::platform;

namespace {

struct Ran {
  int code = -1;
  pid_t pid = 0;
  std::string out;
};
// Runs a program (no shell), capturing standard output; stderr goes to the output too.
Ran run(const std::vector<std::string>& argv) {
  int pipefd[2];
  REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  Ran r;
  r.pid = pid;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

bool have_program(const std::string& name) { return run({"sh", "-c", "command -v " + name}).code == 0; }

void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

struct Collected {
  std::vector<SecurityChange> changes;
  std::vector<TamperActivity> tampers;
};

// Drains the source as the agent does (poll, then drain) until pred() holds or the time is up.
bool pump(vp::SecuritySource& src, Collected& got, const std::function<bool()>& pred,
          std::chrono::milliseconds timeout = 5s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return pred();
    pollfd p{src.pollable_fd(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
    auto s = src.drain([&](SecurityRecord&& r) {
      if (auto* c = std::get_if<SecurityChange>(&r)) got.changes.push_back(std::move(*c));
      else got.tampers.push_back(std::move(std::get<TamperActivity>(r)));
    });
    INFO((s ? std::string() : s.error()));
    REQUIRE(s.ok());
  }
}

// Collects whatever arrives for a while (to check that nothing did).
void settle(vp::SecuritySource& src, Collected& got, std::chrono::milliseconds d = 400ms) {
  pump(src, got, [] { return false; }, d);
}

const SecurityChange* find(const Collected& got, const std::string& category, const std::string& item,
                           const std::string& change) {
  for (const auto& c : got.changes)
    if (c.category == category && c.item == item && c.change == change) return &c;
  return nullptr;
}

// A network namespace made for the test (ip netns add), deleted whatever happened.
struct NetNs {
  std::string name, path;
  bool ok = false;
  NetNs() {
    name = "vigil-test-" + std::to_string(::getpid());
    run({"ip", "netns", "del", name});
    ok = run({"ip", "netns", "add", name}).code == 0;
    path = "/run/netns/" + name;
  }
  ~NetNs() {
    if (ok) run({"ip", "netns", "del", name});
  }
  Ran exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", name});
    return run(argv);
  }
};

// Sets the kernel's audit switch as `auditctl -e` does (AUDIT_SET with AUDIT_STATUS_ENABLED);
// the kernel's answer (0 or -errno).
int set_kernel_audit(std::uint32_t enabled) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) return -errno;
  struct {
    nlmsghdr h;
    audit_status st;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(audit_status));
  req.h.nlmsg_type = AUDIT_SET;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.h.nlmsg_seq = 7;
  req.st.mask = AUDIT_STATUS_ENABLED;
  req.st.enabled = enabled;
  int rc = -EIO;
  if (::send(fd, &req, req.h.nlmsg_len, 0) >= 0) {
    alignas(nlmsghdr) char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    auto* h = reinterpret_cast<nlmsghdr*>(buf);
    if (n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) && h->nlmsg_type == NLMSG_ERROR)
      rc = static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
  }
  ::close(fd);
  return rc;
}

vigil::agent::SecurityCaptureSpec spec_for(const std::string& root) {
  vigil::agent::SecurityCaptureSpec s;
  s.config_root = root;
  s.recheck_interval_ms = 60000;
  return s;
}

}  // namespace

TEST_CASE("line_diff counts and shows what changed, bounded", "[security]") {
  auto d = vp::line_diff("a\nb\nc\n", "a\nB\nc\nd\n");
  CHECK(d.text == "-b\n+B\n+d\n");
  CHECK(d.lines_added == 2);
  CHECK(d.lines_removed == 1);
  CHECK_FALSE(d.truncated);

  CHECK(vp::line_diff("same\n", "same").text.empty());  // a final newline alone is no change
  CHECK(vp::line_diff("", "x\ny\n").lines_added == 2);

  std::string big;
  for (int i = 0; i < 5000; ++i) big += "line " + std::to_string(i) + "\n";
  auto cut = vp::line_diff("", big, 4096);
  CHECK(cut.lines_added == 5000);
  CHECK(cut.truncated);
  CHECK(cut.text.size() <= 4096);
  CHECK(cut.text.substr(cut.text.size() - 4) == "...\n");
}

TEST_CASE("nftables: a rule added by nft in a network namespace is one change with digests, diff and the nft process", "[security]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: needs root (network namespaces, nftables)");
    return;
  }
  if (!have_program("ip") || !have_program("nft")) {
    WARN("SKIPPED: ip (iproute2) or nft (nftables) not installed");
    return;
  }
  NetNs ns;
  if (!ns.ok) {
    WARN("SKIPPED: ip netns add failed (no CAP_SYS_ADMIN or /run/netns not writable)");
    return;
  }
  vigil::test::TempDir root("vigil-sec");
  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  spec.netns_path = ns.path;
  auto st = src.start(spec);
  INFO((st ? std::string() : st.error()));
  REQUIRE(st.ok());
  REQUIRE(src.firewall_watched());

  Collected got;
  auto firewall = [&] {
    std::vector<const SecurityChange*> v;
    for (const auto& c : got.changes)
      if (c.category == "firewall") v.push_back(&c);
    return v;
  };

  // Three transactions: table, chain, rule.
  REQUIRE(ns.exec({"nft", "add", "table", "inet", "vigil_t"}).code == 0);
  REQUIRE(pump(src, got, [&] { return firewall().size() == 1; }));
  REQUIRE(ns.exec({"nft", "add", "chain", "inet", "vigil_t", "input", "{ type filter hook input priority 0; policy accept; }"}).code == 0);
  REQUIRE(pump(src, got, [&] { return firewall().size() == 2; }));
  Ran rule = ns.exec({"nft", "add", "rule", "inet", "vigil_t", "input", "tcp", "dport", "2222", "drop"});
  INFO(rule.out);
  REQUIRE(rule.code == 0);
  REQUIRE(pump(src, got, [&] { return firewall().size() == 3; }));

  const SecurityChange c = *firewall().back();  // a copy: got.changes grows below
  CHECK(c.item == "nftables ruleset");
  CHECK(c.change == "modified");
  CHECK(c.changed_by == "nftables generation");
  CHECK(c.old_digest.size() == 64);
  CHECK(c.new_digest.size() == 64);
  CHECK(c.old_digest != c.new_digest);
  CHECK(c.old_digest == firewall()[1]->new_digest);  // the chain made the state the rule changed
  CHECK(c.diff.find("+\t\ttcp dport 2222 drop") != std::string::npos);
  CHECK(c.lines_added == 1);
  CHECK(c.lines_removed == 0);
  // `ip netns exec` execs nft in the same process: the kernel names the pid the test forked.
  REQUIRE(c.has_process);
  CHECK(c.process.pid == static_cast<std::uint32_t>(rule.pid));
  CHECK(c.process.comm == "nft");
  // The digest is that of the ruleset as nft itself prints it now.
  Ran listed = ns.exec({"nft", "-s", "list", "ruleset"});
  REQUIRE(listed.code == 0);
  CHECK(c.new_digest == vigil::crypto::sha256_hex(listed.out));
  CHECK(firewall()[0]->diff.find("+table inet vigil_t {") != std::string::npos);

  // One transaction (nft -f) of several commands is one change; deleting the table removes it all.
  vigil::test::TempDir tmp;
  std::string script = tmp.write("rules.nft", "add table ip vigil_u\nadd chain ip vigil_u out { type filter hook output priority 0; }\n"
                                              "add rule ip vigil_u out udp dport 53 accept\n");
  REQUIRE(ns.exec({"nft", "-f", script}).code == 0);
  REQUIRE(pump(src, got, [&] { return firewall().size() == 4; }));
  CHECK(firewall()[3]->lines_added >= 5);
  settle(src, got);
  CHECK(firewall().size() == 4);
  REQUIRE(ns.exec({"nft", "delete", "table", "inet", "vigil_t"}).code == 0);
  REQUIRE(pump(src, got, [&] { return firewall().size() == 5; }));
  CHECK(firewall()[4]->lines_removed >= 6);
  CHECK(firewall()[4]->lines_added == 0);

  // The event the agent builds from it.
  auto e = vigil::agent::make_security_event(c);
  CHECK(e.type() == "security.changed");
  CHECK(e.security().category() == "firewall");
  CHECK(e.process().pid() == static_cast<std::uint32_t>(rule.pid));
  CHECK(e.process().comm() == "nft");
}

TEST_CASE("nftables: a namespace that cannot be entered is an error at start", "[security]") {
  vigil::test::TempDir root("vigil-sec");
  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  spec.netns_path = root.file("no-such-netns");
  auto st = src.start(spec);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("no-such-netns") != std::string::npos);
}

TEST_CASE("config files: sudoers, sshd, PAM and screen-lock edits are created/modified/deleted with digests and diffs", "[security]") {
  vigil::test::TempDir root("vigil-sec");
  const std::string etc = root.file("etc");
  put(etc + "/sudoers", "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n");
  put(etc + "/sudoers.d/README", "# drop-ins\n");
  put(etc + "/ssh/sshd_config", "Port 22\nPermitRootLogin no\nPasswordAuthentication no\n");
  put(etc + "/pam.d/common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\n");
  put(etc + "/hostname", "not-watched\n");

  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  auto st = src.start(spec);
  INFO((st ? std::string() : st.error()));
  REQUIRE(st.ok());
  Collected got;
  settle(src, got, 200ms);
  CHECK(got.changes.empty());  // the baseline reports nothing

  // A drop-in created.
  const std::string dropin = etc + "/sudoers.d/90-vigil";
  const std::string v1 = "alice ALL=(ALL) ALL\n";
  put(dropin, v1);
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", dropin, "created"); }));
  {
    const auto& c = *find(got, "sudoers", dropin, "created");
    CHECK(c.old_digest.empty());
    CHECK(c.new_digest == vigil::crypto::sha256_hex(v1));
    CHECK(c.diff == "+alice ALL=(ALL) ALL\n");
    CHECK(c.lines_added == 1);
    CHECK(c.changed_by.empty());
  }

  // Replaced by rename, as editors and visudo do.
  const std::string v2 = "alice ALL=(ALL) NOPASSWD: ALL\n";
  put(root.file("staging/90-vigil.tmp"), v2);
  fs::rename(root.file("staging/90-vigil.tmp"), dropin);
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", dropin, "modified"); }));
  {
    const auto& c = *find(got, "sudoers", dropin, "modified");
    CHECK(c.old_digest == vigil::crypto::sha256_hex(v1));
    CHECK(c.new_digest == vigil::crypto::sha256_hex(v2));
    CHECK(c.diff == "-alice ALL=(ALL) ALL\n+alice ALL=(ALL) NOPASSWD: ALL\n");
  }

  // Deleted.
  fs::remove(dropin);
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", dropin, "deleted"); }));
  CHECK(find(got, "sudoers", dropin, "deleted")->old_digest == vigil::crypto::sha256_hex(v2));
  CHECK(find(got, "sudoers", dropin, "deleted")->new_digest.empty());

  // sshd_config edited in place.
  put(etc + "/ssh/sshd_config", "Port 22\nPermitRootLogin yes\nPasswordAuthentication no\n");
  REQUIRE(pump(src, got, [&] { return find(got, "sshd", etc + "/ssh/sshd_config", "modified"); }));
  CHECK(find(got, "sshd", etc + "/ssh/sshd_config", "modified")->diff == "-PermitRootLogin no\n+PermitRootLogin yes\n");

  // A directory that did not exist at start: sshd_config.d and a drop-in in it.
  put(etc + "/ssh/sshd_config.d/50-vigil.conf", "PasswordAuthentication yes\n");
  REQUIRE(pump(src, got, [&] { return find(got, "sshd", etc + "/ssh/sshd_config.d/50-vigil.conf", "created"); }));
  // ... and the whole directory removed: its files are deleted; made again, they are new.
  fs::remove_all(etc + "/ssh/sshd_config.d");
  REQUIRE(pump(src, got, [&] { return find(got, "sshd", etc + "/ssh/sshd_config.d/50-vigil.conf", "deleted"); }));
  put(etc + "/ssh/sshd_config.d/60-again.conf", "X11Forwarding yes\n");
  REQUIRE(pump(src, got, [&] { return find(got, "sshd", etc + "/ssh/sshd_config.d/60-again.conf", "created"); }));

  // PAM.
  put(etc + "/pam.d/common-auth", "auth sufficient pam_permit.so\n");
  REQUIRE(pump(src, got, [&] { return find(got, "pam", etc + "/pam.d/common-auth", "modified"); }));

  // Screen lock through a dconf system database made after start; a keyfile that says nothing
  // about locking is not reported.
  put(etc + "/dconf/db/local.d/00-wallpaper", "[org/gnome/desktop/background]\npicture-uri='file:///x.png'\n");
  put(etc + "/dconf/db/local.d/01-screensaver", "[org/gnome/desktop/screensaver]\nlock-enabled=false\n");
  const std::string lockfile = etc + "/dconf/db/local.d/01-screensaver";
  REQUIRE(pump(src, got, [&] { return find(got, "screen_lock", lockfile, "created"); }));
  settle(src, got);
  CHECK_FALSE(find(got, "screen_lock", etc + "/dconf/db/local.d/00-wallpaper", "created"));

  // Files nobody asked about are not reported.
  put(etc + "/hostname", "changed\n");
  settle(src, got);
  for (const auto& c : got.changes) CHECK(c.item != etc + "/hostname");
}

TEST_CASE("config files: hostile names and content are recorded as they are", "[security]") {
  vigil::test::TempDir root("vigil-sec");
  fs::create_directories(root.file("etc/sudoers.d"));
  vp::SecuritySource src;
  REQUIRE(src.start(spec_for(root.path.string())).ok());
  Collected got;
  const std::string name = root.file("etc/sudoers.d/evil\nname\xff\xfe");
  std::string content = std::string(4096, 'A') + "\n" + "bad \xc3\x28 utf8\n";
  put(name, content);
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", name, "created"); }));
  const auto& c = *find(got, "sudoers", name, "created");
  CHECK(c.new_digest == vigil::crypto::sha256_hex(content));
  CHECK(c.lines_added == 2);
  CHECK(c.diff.size() <= 4096);
  auto e = vigil::agent::make_security_event(c);
  std::string wire;
  REQUIRE(e.SerializeToString(&wire));  // escaped: valid UTF-8 for protobuf
  CHECK(e.security().item().find("\\xff\\xfe") != std::string::npos);

  // A drop-in written slowly (the watch wakes while it is open and half written) is one
  // "created" with the whole content, not an empty or partial one followed by "modified".
  const std::string slow = root.file("etc/sudoers.d/slow");
  {
    std::ofstream f(slow, std::ios::binary);
    f << "bob ALL=(ALL) ";
    f.flush();
    settle(src, got, 300ms);
    f << "ALL\n";
  }
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", slow, "created"); }));
  settle(src, got, 300ms);
  CHECK(find(got, "sudoers", slow, "created")->diff == "+bob ALL=(ALL) ALL\n");
  CHECK_FALSE(find(got, "sudoers", slow, "modified"));

  // A FIFO planted where a drop-in would be does not hang the watch.
  REQUIRE(::mkfifo(root.file("etc/sudoers.d/fifo").c_str(), 0600) == 0);
  put(root.file("etc/sudoers.d/after-fifo"), "x\n");
  REQUIRE(pump(src, got, [&] { return find(got, "sudoers", root.file("etc/sudoers.d/after-fifo"), "created"); }));
}

TEST_CASE("agent files: modified, deleted or replaced binary and config are agent.tamper", "[security]") {
  vigil::test::TempDir root("vigil-sec");
  vigil::test::TempDir data("vigil-agentdata");
  const std::string toml = data.write("agent.toml", "server = \"c:7443\"\n");
  const std::string cert = data.write("device.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string binary = data.file("vigil-agent");
  fs::copy_file("/bin/true", binary);

  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  spec.agent_paths = {toml, cert, binary};
  REQUIRE(src.start(spec).ok());
  Collected got;
  settle(src, got, 200ms);
  REQUIRE(got.tampers.empty());

  auto tamper = [&](const std::string& what, const std::string& item, const std::string& detail) -> const TamperActivity* {
    for (const auto& t : got.tampers)
      if (t.what == what && t.item == item && t.detail == detail) return &t;
    return nullptr;
  };
  std::string old_toml_digest = vigil::crypto::sha256_hex("server = \"c:7443\"\n");
  put(toml, "server = \"evil:7443\"\n");
  REQUIRE(pump(src, got, [&] { return tamper("config_modified", toml, "modified"); }));
  CHECK(tamper("config_modified", toml, "modified")->old_digest == old_toml_digest);
  CHECK(tamper("config_modified", toml, "modified")->new_digest == vigil::crypto::sha256_hex("server = \"evil:7443\"\n"));

  fs::remove(cert);
  REQUIRE(pump(src, got, [&] { return tamper("data_modified", cert, "deleted"); }));

  // The binary replaced by another executable (a rename over it, as a package manager does).
  fs::copy_file("/bin/false", data.file("vigil-agent.new"));
  fs::rename(data.file("vigil-agent.new"), binary);
  REQUIRE(pump(src, got, [&] { return tamper("binary_modified", binary, "modified"); }));
  auto* b = tamper("binary_modified", binary, "modified");
  CHECK(b->old_digest != b->new_digest);
  CHECK(b->new_digest.size() == 64);

  auto e = vigil::agent::make_tamper_event(*b);
  CHECK(e.type() == "agent.tamper");
  CHECK(e.tamper().what() == "binary_modified");
  CHECK(e.tamper().item() == binary);
}

TEST_CASE("state: auditd starting and stopping is a state change, rechecked on a timer", "[security]") {
  for (const auto& s : vp::read_security_state())
    if (s.item == "auditd" && s.value == "running") {
      WARN("SKIPPED: a real auditd runs on this machine; the test cannot start and stop one of its own");
      return;
    }
  vigil::test::TempDir root("vigil-sec");
  vigil::test::TempDir bin("vigil-bin");
  // A process whose comm is "auditd": the check looks for the daemon by name, as pidof would.
  const std::string fake = bin.file("auditd");
  fs::copy_file("/bin/sleep", fake);
  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  spec.recheck_interval_ms = 100;
  REQUIRE(src.start(spec).ok());
  Collected got;

  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(fake.c_str(), "auditd", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto state = [&](const std::string& from, const std::string& to) {
    for (const auto& c : got.changes)
      if (c.category == "auditd" && c.change == "state" && c.old_value == from && c.new_value == to) return true;
    return false;
  };
  bool started = pump(src, got, [&] { return state("stopped", "running"); }, 3s);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  REQUIRE(started);
  REQUIRE(pump(src, got, [&] { return state("running", "stopped"); }, 3s));

  // Fixture sysfs for the LSM reads (this kernel may have neither AppArmor nor SelinuxFS).
  vigil::test::TempDir sys("vigil-sys");
  put(sys.file("module/apparmor/parameters/enabled"), "Y\n");
  put(sys.file("kernel/security/apparmor/profiles"), "/usr/bin/man (enforce)\nnvidia_modprobe (complain)\n/x (enforce)\n");
  put(sys.file("fs/selinux/enforce"), "1");
  auto before = vp::read_security_state("/proc", sys.path.string());
  CHECK(before[1].value == "enabled: 2 enforce, 1 complain");
  CHECK(before[2].value == "enforcing");
  put(sys.file("fs/selinux/enforce"), "0");
  auto after = vp::read_security_state("/proc", sys.path.string());
  auto d = vp::diff_security_state(before, after);
  REQUIRE(d.size() == 1);
  CHECK(d[0].category == "lsm");
  CHECK(d[0].item == "selinux");
  CHECK(d[0].old_value == "enforcing");
  CHECK(d[0].new_value == "permissive");
}

TEST_CASE("agent.toml: security and session keys round-trip, bad types are file:line errors", "[security]") {
  vigil::test::TempDir dir;
  vigil::agent::AgentConfig c;
  c.server = "127.0.0.1:7443";
  c.device_id = "dev-1";
  auto fresh = vigil::test::must(vigil::agent::load_agent_config(dir.write("fresh.toml", vigil::agent::render_agent_config(c))));
  CHECK(fresh.security_capture);
  CHECK(fresh.security_config_root == "/");
  CHECK(fresh.security_netns.empty());
  CHECK(fresh.session_capture);
  CHECK(fresh.utmp_path == "/var/run/utmp");

  c.security_capture = false;
  c.security_config_root = "/srv/root \"quoted\"";
  c.security_netns = "/run/netns/x";
  c.session_capture = false;
  c.utmp_path = "/tmp/utmp";
  auto set = vigil::test::must(vigil::agent::load_agent_config(dir.write("set.toml", vigil::agent::render_agent_config(c))));
  CHECK_FALSE(set.security_capture);
  CHECK(set.security_config_root == c.security_config_root);
  CHECK(set.security_netns == c.security_netns);
  CHECK_FALSE(set.session_capture);
  CHECK(set.utmp_path == c.utmp_path);

  auto bad = [&](const std::string& line) {
    auto p = dir.write("bad.toml", "server = \"h:1\"\ndevice_id = \"d\"\n" + line + "\n");
    auto r = vigil::agent::load_agent_config(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(p + ":3:") == 0);
    return r.error();
  };
  CHECK(bad("security_capture = \"yes\"").find("security_capture must be true or false") != std::string::npos);
  CHECK(bad("session_capture = 1").find("session_capture must be true or false") != std::string::npos);
  CHECK(bad("security_netns = 3").find("security_netns must be a string") != std::string::npos);
  CHECK(bad("utmp_path = \"\"").find("utmp_path must not be empty") != std::string::npos);
  CHECK(bad("security_cofig_root = \"/\"").find("unknown key 'security_cofig_root'") != std::string::npos);
}

TEST_CASE("make_event_sources registers security and sessions as agent.toml says", "[security]") {
  vigil::agent::RuntimeOptions o;
  o.paths.root = "/nonexistent";
  o.config.print_capture = false;  // print's own switch is tested with print
  auto names = [&] {
    std::vector<std::string> n;
    for (const auto& s : vigil::agent::make_event_sources(o)) n.push_back(s->name());
    return n;
  };
  CHECK(names() == std::vector<std::string>{"security", "sessions"});
  o.config.security_capture = false;
  CHECK(names() == std::vector<std::string>{"sessions"});
  o.config.session_capture = false;
  CHECK(names().empty());
  o.config.security_capture = true;
  auto spec = vigil::agent::security_spec_from(o);
  CHECK(spec.agent_paths == std::vector<std::string>{"/nonexistent/agent.toml", "/nonexistent/device.pem", "/nonexistent/ca.pem"});
}

TEST_CASE("state: the kernel audit switch turned off and on (auditctl -e) is a state change", "[security]") {
  std::string initial = vp::kernel_audit_state();
  if (initial != "enabled" && initial != "disabled") {
    WARN("SKIPPED: kernel audit state is '" << initial << "' (no NETLINK_AUDIT access, or locked)");
    return;
  }
  const std::string flipped = initial == "enabled" ? "disabled" : "enabled";
  vigil::test::TempDir root("vigil-sec");
  vp::SecuritySource src;
  auto spec = spec_for(root.path.string());
  spec.recheck_interval_ms = 100;
  REQUIRE(src.start(spec).ok());
  Collected got;
  if (int rc = set_kernel_audit(initial == "enabled" ? 0 : 1); rc != 0) {
    WARN("SKIPPED: AUDIT_SET refused (" << std::strerror(-rc) << "): cannot change the kernel audit switch here");
    return;
  }
  auto state = [&](const std::string& from, const std::string& to) {
    for (const auto& c : got.changes)
      if (c.category == "audit" && c.item == "kernel audit" && c.old_value == from && c.new_value == to) return true;
    return false;
  };
  bool seen = pump(src, got, [&] { return state(initial, flipped); }, 3s);
  REQUIRE(set_kernel_audit(initial == "enabled" ? 1 : 0) == 0);  // put it back before any REQUIRE
  REQUIRE(seen);
  REQUIRE(pump(src, got, [&] { return state(flipped, initial); }, 3s));
}

TEST_CASE("nftables notifications: NEWGEN attributes parse; truncated or garbage datagrams are skipped", "[security]") {
  // One NEWGEN as the kernel builds it: nlmsghdr, nfgenmsg, then GEN_ID, GEN_PROC_PID, GEN_PROC_NAME.
  auto attr = [](std::uint16_t type, const std::string& value) {
    std::string a(4, '\0');
    std::uint16_t len = static_cast<std::uint16_t>(4 + value.size());
    std::memcpy(a.data(), &len, 2);
    std::memcpy(a.data() + 2, &type, 2);
    a += value;
    a.resize((a.size() + 3) & ~std::size_t{3}, '\0');
    return a;
  };
  auto be32 = [](std::uint32_t v) {
    v = htonl(v);
    return std::string(reinterpret_cast<const char*>(&v), 4);
  };
  std::string body = std::string(4, '\0') /* nfgenmsg */ + attr(NFTA_GEN_ID, be32(77)) +
                     attr(NFTA_GEN_PROC_PID, be32(4321)) + attr(NFTA_GEN_PROC_NAME, std::string("nft\n\xff", 5) + '\0');
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + body.size());
  h.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN;
  std::string msg(reinterpret_cast<const char*>(&h), sizeof h);
  msg += body;

  std::vector<vp::NftGeneration> gens;
  auto collect = [&](const vp::NftGeneration& g) { gens.push_back(g); };
  vp::parse_nft_notifications(msg + msg, collect);
  REQUIRE(gens.size() == 2);
  CHECK(gens[0].id == 77);
  CHECK(gens[0].pid == 4321);
  CHECK(gens[0].proc_name == std::string("nft\n\xff", 5));

  gens.clear();
  for (std::size_t cut = 0; cut < msg.size(); ++cut) vp::parse_nft_notifications(msg.substr(0, cut), collect);
  CHECK(gens.empty());  // a NEWGEN cut anywhere is not reported
  std::string bad = msg;
  std::uint16_t huge = 0xfff0;
  std::memcpy(bad.data() + sizeof h + 4, &huge, 2);  // first attribute claims more than there is
  vp::parse_nft_notifications(bad, collect);
  REQUIRE(gens.size() == 1);  // the message is still a NEWGEN, its attributes unread
  CHECK(gens[0].pid == 0);
  std::string noise(4096, '\xa5');
  vp::parse_nft_notifications(noise, collect);
  vp::parse_nft_notifications("", collect);
  CHECK(gens.size() == 1);
}
