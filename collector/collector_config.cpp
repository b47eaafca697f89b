#include "collector/collector_config.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

namespace vigil::collector {

namespace {

std::string where(const std::string& path, const toml::source_region& src) {
  return path + ":" + std::to_string(src.begin.line);
}

Result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text, const std::string& at) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return err(at + ": listen must be ADDRESS:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return err(at + ": bad port in '" + text + "'");
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

}  // namespace

Result<CollectorConfig> load_collector_config(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return err(where(path, e.source()) + ": " + std::string(e.description()));
  }
  CollectorConfig cfg;
  static const std::set<std::string> sections{"ingest", "api", "storage", "server", "import", "engine",
                                                 "privacy", "siem", "smtp"};
  for (auto& [key, node] : root) {
    std::string k(key.str());
    if (!sections.count(k)) return err(where(path, node.source()) + ": unknown section '" + k + "'");
    auto* tbl = node.as_table();
    if (!tbl) return err(where(path, node.source()) + ": '" + k + "' must be a table");
    for (auto& [sub, v] : *tbl) {
      std::string s(sub.str());
      std::string at = where(path, v.source());
      auto str = [&]() -> Result<std::string> {
        if (auto* x = v.as_string()) return x->get();
        return err(at + ": " + k + "." + s + " must be a string");
      };
      if ((k == "ingest" || k == "api") && s == "listen") {
        auto t = str();
        if (!t) return err(t.error());
        auto hp = parse_listen(*t, at);
        if (!hp) return err(hp.error());
        (k == "ingest" ? cfg.ingest_address : cfg.api_address) = hp->first;
        (k == "ingest" ? cfg.ingest_port : cfg.api_port) = hp->second;
      } else if (k == "storage" && s == "backend") {
        auto t = str();
        if (!t) return err(t.error());
        if (*t != "sqlite") return err(at + ": storage.backend '" + *t + "' is not available (sqlite)");
        cfg.storage_backend = *t;
      } else if (k == "storage" && s == "path") {
        auto t = str();
        if (!t) return err(t.error());
        cfg.sqlite_path = *t;
      } else if (k == "server" && s == "io_threads") {
        auto* n = v.as_integer();
        if (!n || n->get() < 1 || n->get() > 64) return err(at + ": server.io_threads must be an integer 1..64");
        cfg.io_threads = static_cast<int>(n->get());
      } else if (k == "import" && (s == "hr_dir" || s == "attributes_dir")) {
        auto t = str();
        if (!t) return err(t.error());
        if (t->empty()) return err(at + ": import." + s + " must not be empty");
        (s == "hr_dir" ? cfg.import_hr_dir : cfg.import_attributes_dir) = *t;
      } else if (k == "import" && s == "poll_seconds") {
        auto* n = v.as_integer();
        if (!n || n->get() < 1 || n->get() > 3600) return err(at + ": import.poll_seconds must be an integer 1..3600");
        cfg.import_poll_seconds = static_cast<int>(n->get());
      } else if (k == "engine" && (s == "work_start_hour" || s == "work_end_hour" || s == "utc_offset_minutes" ||
                                   s == "analytics_min_group")) {
        struct Bound { int lo, hi; int* into; };
        const Bound b = s == "work_start_hour"      ? Bound{0, 23, &cfg.work_start_hour}
                        : s == "work_end_hour"      ? Bound{1, 24, &cfg.work_end_hour}
                        : s == "utc_offset_minutes" ? Bound{-720, 840, &cfg.utc_offset_minutes}
                                                    : Bound{2, 1000, &cfg.analytics_min_group};
        auto* n = v.as_integer();
        if (!n || n->get() < b.lo || n->get() > b.hi)
          return err(at + ": engine." + s + " must be an integer " + std::to_string(b.lo) + ".." + std::to_string(b.hi));
        *b.into = static_cast<int>(n->get());
      } else if (k == "privacy" && s == "reveal_names") {  // auth
        auto t = str();
        if (!t) return err(t.error());
        if (*t != "by_role" && *t != "never")
          return err(at + ": privacy.reveal_names must be \"by_role\" or \"never\"; got '" + *t + "'");
        cfg.privacy_reveal_names = *t;
      } else if (k == "siem") {  // siem (docs/SIEM.md)
        auto flag = [&](bool& into) -> Status {
          auto* b = v.as_boolean();
          if (!b) return err(at + ": siem." + s + " must be true or false");
          into = b->get();
          return {};
        };
        Status st;
        if (s == "enabled") st = flag(cfg.siem_enabled);
        else if (s == "include_events") st = flag(cfg.siem_include_events);
        else if (s == "port") {
          auto* n = v.as_integer();
          if (!n || n->get() < 1 || n->get() > 65535) return err(at + ": siem.port must be an integer 1..65535");
          cfg.siem_port = static_cast<std::uint16_t>(n->get());
        } else if (s == "host" || s == "ca" || s == "server_name" || s == "format" || s == "app_name" || s == "hostname") {
          auto t = str();
          if (!t) return err(t.error());
          if (s == "format" && *t != "json" && *t != "cef") return err(at + ": siem.format must be \"json\" or \"cef\", got '" + *t + "'");
          if (s == "app_name" && (t->empty() || t->size() > 48)) return err(at + ": siem.app_name must be 1..48 characters");
          if (s == "hostname" && t->size() > 255) return err(at + ": siem.hostname must be at most 255 characters");
          for (char c : *t)
            if ((s == "app_name" || s == "hostname") && (c < 33 || c > 126))
              return err(at + ": siem." + s + " must be printable ASCII without spaces (RFC 5424)");
          (s == "host" ? cfg.siem_host : s == "ca" ? cfg.siem_ca : s == "server_name" ? cfg.siem_server_name
           : s == "format" ? cfg.siem_format : s == "app_name" ? cfg.siem_app_name : cfg.siem_hostname) = *t;
        } else {
          return err(at + ": unknown key 'siem." + s + "' (accepted: enabled, host, port, ca, server_name, format, "
                          "include_events, app_name, hostname)");
        }
        if (!st) return err(st.error());
      } else if (k == "smtp" && (s == "host" || s == "from" || s == "ca_file")) {
        // [smtp] (cases: notices).
        auto t = str();
        if (!t) return err(t.error());
        if (t->empty() || t->find_first_of(" \t\r\n") != std::string::npos)
          return err(at + ": smtp." + s + " must be non-empty without spaces");
        (s == "host" ? cfg.smtp_host : s == "from" ? cfg.smtp_from : cfg.smtp_ca_file) = *t;
      } else if (k == "smtp" && (s == "port" || s == "timeout_seconds")) {
        auto* n = v.as_integer();
        const int hi = s == "port" ? 65535 : 600;
        if (!n || n->get() < 1 || n->get() > hi) return err(at + ": smtp." + s + " must be an integer 1.." + std::to_string(hi));
        (s == "port" ? cfg.smtp_port : cfg.smtp_timeout_seconds) = static_cast<int>(n->get());
      } else if (k == "smtp" && s == "starttls") {
        auto* b = v.as_boolean();
        if (!b) return err(at + ": smtp.starttls must be true or false");
        cfg.smtp_starttls = b->get();
      } else {
        return err(at + ": unknown key '" + k + "." + s + "'");
      }
    }
  }
  if (!cfg.smtp_host.empty() && (cfg.smtp_from.empty() || cfg.smtp_from.find('@') == std::string::npos))
    return err(path + ": [smtp] needs 'from', the sender address (name@example.com), when 'host' is set");
  if (cfg.work_start_hour >= cfg.work_end_hour)
    return err(path + ": engine.work_start_hour (" + std::to_string(cfg.work_start_hour) +
               ") must be before engine.work_end_hour (" + std::to_string(cfg.work_end_hour) + ")");
  // siem: an enabled forwarder needs somewhere to send and a way to trust it.
  if (cfg.siem_enabled) {
    auto* siem = root["siem"].as_table();
    const std::string at = siem ? where(path, siem->source()) : path;
    for (auto [name, value] : {std::pair{"host", &cfg.siem_host}, {"ca", &cfg.siem_ca}, {"server_name", &cfg.siem_server_name}})
      if (value->empty()) return err(at + ": siem.enabled = true needs siem." + std::string(name));
  }
  return cfg;
}

std::string render_collector_config(const CollectorConfig& c) {
  std::ostringstream o;
  o << "# Vigil collector configuration. Paths are relative to this directory.\n"
    << "[ingest]\n# Agents connect here (mutual TLS).\nlisten = \"" << c.ingest_address << ":" << c.ingest_port << "\"\n\n"
    << "[api]\n# HTTPS API used by vigilctl and the console.\nlisten = \"" << c.api_address << ":" << c.api_port << "\"\n\n"
    << "[storage]\nbackend = \"" << c.storage_backend << "\"\npath = \"" << c.sqlite_path << "\"\n\n"
    << "[server]\nio_threads = " << c.io_threads << "\n\n"
    << "[engine]\n# The working day (local = UTC + utc_offset_minutes) for \"after hours\" until a user has\n"
    << "# enough history of their own; analytics hides groups smaller than analytics_min_group.\n"
    << "work_start_hour = " << c.work_start_hour << "\nwork_end_hour = " << c.work_end_hour
    << "\nutc_offset_minutes = " << c.utc_offset_minutes << "\nanalytics_min_group = " << c.analytics_min_group << "\n"
    // auth
    << "\n[privacy]\n# \"by_role\": roles with reveal_names see real user names (each reveal is audited);\n"
    << "# \"never\": everyone sees pseudonyms.\nreveal_names = \"" << c.privacy_reveal_names << "\"\n";
  return o.str();
}

}  // namespace vigil::collector
