#include "agent/agent_config.h"

#include <toml++/toml.h>

#include <optional>
#include <sstream>

#include "shared/time_util.h"

namespace vigil::agent {

namespace {

std::string where(const std::string& path, const toml::source_region& src) {
  return path + ":" + std::to_string(src.begin.line);
}

Result<std::vector<std::string>> string_list(const toml::node& n, const std::string& at, const std::string& key) {
  std::vector<std::string> out;
  auto* arr = n.as_array();
  if (!arr) return err(at + ": " + key + " must be an array of strings");
  for (auto& item : *arr) {
    auto* s = item.as_string();
    if (!s) return err(where(at.substr(0, at.rfind(':')), item.source()) + ": " + key + " must hold only strings");
    out.push_back(s->get());
  }
  return out;
}

}  // namespace

namespace {

// Applies the keys of one file onto `cfg`; identity = false refuses server and device_id.
Status apply_agent_config(const std::string& path, AgentConfig& cfg, bool identity) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return err(where(path, e.source()) + ": " + std::string(e.description()));
  }
  for (auto& [key, node] : root) {
    std::string k(key.str());
    std::string at = where(path, node.source());
    if (!identity && (k == "server" || k == "device_id"))
      return err(at + ": '" + k + "' is set by enrollment in the data directory's agent.toml, not here");
    auto str = [&]() -> Result<std::string> {
      if (auto* s = node.as_string()) return s->get();
      return err(at + ": " + k + " must be a string");
    };
    if (k == "server" || k == "device_id" || k == "print_server" || k == "print_spool_dir") {
      auto s = str();
      if (!s) return err(s.error());
      (k == "server" ? cfg.server : k == "device_id" ? cfg.device_id : k == "print_server" ? cfg.print_server : cfg.print_spool_dir) = *s;
    } else if (k == "print_capture") {
      auto* b = node.as_boolean();
      if (!b) return err(at + ": print_capture must be true or false");
      cfg.print_capture = b->get();
    } else if (k == "watch" || k == "exclude" || k == "reconcile_roots" || k == "removable_devices") {
      auto l = string_list(node, at, k);
      if (!l) return err(l.error());
      (k == "watch" ? cfg.watch : k == "exclude" ? cfg.exclude : k == "reconcile_roots" ? cfg.reconcile_roots : cfg.removable_devices) = *l;
    } else if (k == "security_config_root" || k == "security_netns" || k == "utmp_path") {
      auto s = str();
      if (!s) return err(s.error());
      if (k != "security_netns" && s->empty()) return err(at + ": " + k + " must not be empty");
      (k == "security_config_root" ? cfg.security_config_root : k == "security_netns" ? cfg.security_netns : cfg.utmp_path) = *s;
    } else if (k == "security_capture" || k == "session_capture") {
      auto* b = node.as_boolean();
      if (!b) return err(at + ": " + k + " must be true or false");
      (k == "security_capture" ? cfg.security_capture : cfg.session_capture) = b->get();
    } else if (k == "flush_interval_ms") {
      auto* n = node.as_integer();
      if (!n || n->get() < 1 || n->get() > 60000) return err(at + ": flush_interval_ms must be an integer 1..60000");
      cfg.flush_interval_ms = static_cast<std::uint64_t>(n->get());
    } else if (k == "capture_batch_ms") {
      auto* n = node.as_integer();
      if (!n || n->get() < 0 || n->get() > 1000) return err(at + ": capture_batch_ms must be an integer 0..1000 (0: drain on every wakeup)");
      cfg.capture_batch_ms = static_cast<std::uint64_t>(n->get());
    } else if (k == "track_reads") {
      auto* v = node.as_string();
      if (!v || (v->get() != "auto" && v->get() != "always"))
        return err(at + ": track_reads must be \"auto\" (while a removable volume or network share is mounted) or \"always\"");
      cfg.track_reads_always = v->get() == "always";
    } else if (k == "cpu_limit_percent") {
      std::optional<double> v;
      if (auto* i = node.as_integer()) v = static_cast<double>(i->get());
      if (auto* f = node.as_floating_point()) v = f->get();
      if (!v || *v < 0 || *v > 10000) return err(at + ": cpu_limit_percent must be a number 0..10000 (0: no limit)");
      cfg.cpu_limit_percent = *v;
    } else if (k == "rss_limit_mb" || k == "watchdog_interval_ms") {
      auto* n = node.as_integer();
      const bool interval = k == "watchdog_interval_ms";
      if (!n || n->get() < (interval ? 100 : 0) || n->get() > (interval ? 3600000 : 1048576))
        return err(at + ": " + k + (interval ? " must be an integer 100..3600000" : " must be an integer 0..1048576 (0: no limit)"));
      (interval ? cfg.watchdog_interval_ms : cfg.rss_limit_mb) = static_cast<std::uint64_t>(n->get());
    } else if (k == "spool") {
      auto* t = node.as_table();
      if (!t) return err(at + ": spool must be a table");
      for (auto& [sk, sv] : *t) {
        std::string s(sk.str());
        std::string sat = where(path, sv.source());
        if (s == "max_bytes") {
          auto* n = sv.as_integer();
          if (!n || n->get() < (1 << 20)) return err(sat + ": spool.max_bytes must be an integer ≥ 1048576");
          cfg.spool.max_bytes = static_cast<std::uint64_t>(n->get());
        } else if (s == "max_age") {
          auto* v = sv.as_string();
          if (!v) return err(sat + ": spool.max_age must be a duration string like \"14d\"");
          auto d = parse_duration_ns(v->get());
          if (!d) return err(sat + ": " + d.error());
          cfg.spool.max_age_ns = *d;
        } else {
          return err(sat + ": unknown key 'spool." + s + "'");
        }
      }
    } else {
      return err(at + ": unknown key '" + k + "'");
    }
  }
  return {};
}

}  // namespace

Result<AgentConfig> load_agent_config(const std::string& path) {
  AgentConfig cfg;
  if (auto s = apply_agent_config(path, cfg, true); !s) return err(s.error());
  if (cfg.server.empty()) return err(path + ": 'server' is missing (enroll the agent first)");
  if (cfg.device_id.empty()) return err(path + ": 'device_id' is missing (enroll the agent first)");
  return cfg;
}

Result<AgentConfig> load_agent_config(const std::string& path, const std::string& overrides) {
  auto cfg = load_agent_config(path);
  if (!cfg || overrides.empty()) return cfg;
  if (auto s = apply_agent_config(overrides, *cfg, false); !s) return err(s.error());
  return cfg;
}

std::string render_agent_config(const AgentConfig& c) {
  auto quote = [](const std::string& s) {
    std::string o = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') o.push_back('\\');
      o.push_back(ch);
    }
    return o + "\"";
  };
  auto list = [&](const std::vector<std::string>& v) {
    std::string o = "[";
    for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + quote(v[i]);
    return o + "]";
  };
  std::ostringstream o;
  o << "# Vigil agent configuration (written by `vigil-agent enroll`).\n"
    << "server = " << quote(c.server) << "\n"
    << "device_id = " << quote(c.device_id) << "\n"
    << "# Paths to watch when `run` has no --watch; empty = the whole filesystem (pseudo filesystems excluded).\n"
    << "watch = " << list(c.watch) << "\n"
    << "exclude = " << list(c.exclude) << "\n"
    << "# Scanned after the agent was down, when watching everything.\n"
    << "reconcile_roots = " << list(c.reconcile_roots) << "\n"
    << "# Block devices (globs on the device node, e.g. \"/dev/loop*\") reported as removable media.\n"
    << "removable_devices = " << list(c.removable_devices) << "\n"
    << "flush_interval_ms = " << c.flush_interval_ms << "\n"
    << "# Pause after each drain of file activity so storms are read in batches (0: drain on every wakeup).\n"
    << "capture_batch_ms = " << c.capture_batch_ms << "\n"
    << "# Reads name the source of a copy: \"auto\" captures them while a removable volume or network share\n"
    << "# is mounted, \"always\" all the time (every read-only close on the machine then costs a kernel record).\n"
    << "track_reads = " << quote(c.track_reads_always ? "always" : "auto") << "\n"
    << "# Finished print jobs from the print server's notifications; print_server \"\" is the system's default\n"
    << "# (a unix socket path or HOST[:PORT] otherwise).\n"
    << "print_capture = " << (c.print_capture ? "true" : "false") << "\n"
    << "print_server = " << quote(c.print_server) << "\n"
    << "# That server's spool (RequestRoot) when it runs here: documents are classified from it.\n"
    << "print_spool_dir = " << quote(c.print_spool_dir) << "\n\n"
    << "# Changes to firewall, sudoers, PAM, sshd, audit, AppArmor/SELinux, screen lock and the agent's own files.\n"
    << "security_capture = " << (c.security_capture ? "true" : "false") << "\n"
    << "security_config_root = " << quote(c.security_config_root) << "\n"
    << "# Network namespace (/run/netns/NAME) whose nftables ruleset is watched; empty = the agent's own.\n"
    << "security_netns = " << quote(c.security_netns) << "\n"
    << "# Logon/logoff from utmp; lock/unlock from logind when it runs.\n"
    << "session_capture = " << (c.session_capture ? "true" : "false") << "\n"
    << "utmp_path = " << quote(c.utmp_path) << "\n\n"
    << "# Watchdog: over these the agent stops classifying content until it is back under (0: no limit).\n"
    << "cpu_limit_percent = " << c.cpu_limit_percent << "\n"
    << "rss_limit_mb = " << c.rss_limit_mb << "\n"
    << "watchdog_interval_ms = " << c.watchdog_interval_ms << "\n\n"
    << "[spool]\nmax_bytes = " << c.spool.max_bytes << "\n"
    << "max_age = \"" << c.spool.max_age_ns / 86400000000000LL << "d\"\n";
  return o.str();
}

}  // namespace vigil::agent
