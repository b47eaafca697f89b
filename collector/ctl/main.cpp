// vigilctl: the command line for the collector's HTTPS API.
//
// Exit codes (DESIGN.md, "Interfaces"): 0 ok, 1 failure (server error, network, TLS),
// 2 usage or configuration error (including a request the server rejects as invalid, 400).
// Every message goes to stderr as "vigilctl: what went wrong, and where".
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include "collector/ctl/activity_commands.h"
#include "collector/ctl/alert_commands.h"
#include "collector/ctl/audit_commands.h"
#include "collector/ctl/case_commands.h"
#include "collector/ctl/import_commands.h"
#include "collector/ctl/auth_commands.h"  // auth
#include "collector/ctl/ctl_config.h"
#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"
#include "collector/ctl/policy_commands.h"

namespace json = boost::json;
using namespace vigil;
using namespace vigil::ctl;

namespace {

std::string server_error_text(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_string()) return std::string(e->as_string());
  }
  std::string s = body.substr(0, 200);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.empty() ? "(no details)" : s;
}

// One API call; returns the JSON object of a 2xx answer, or prints why not and sets exit_code.
std::optional<json::object> call_object(Session& s, std::string_view method, const std::string& target,
                                 const std::string& body, int& exit_code) {
  const std::string where = s.client.server().authority();
  auto res = s.client.request(method, target, {{"Authorization", "Bearer " + s.settings.token}}, body);
  if (!res) {
    complain(res.error());
    exit_code = kFailure;
    return std::nullopt;
  }
  const int status = res->status;
  if (status >= 200 && status < 300) {
    boost::system::error_code ec;
    auto v = json::parse(res->body, ec);
    if (ec || !v.is_object()) {
      complain("unexpected answer from " + where + target + ": not a JSON object (" + (ec ? ec.message() : "wrong type") + ")");
      exit_code = kFailure;
      return std::nullopt;
    }
    return std::move(v.as_object());
  }
  const std::string detail = server_error_text(res->body);
  const std::string code = " (" + std::to_string(status) + ")";
  if (status == 401) {
    complain("server " + where + " refused the token" + code + ": " + detail);
    exit_code = kFailure;
  } else if (status == 403) {
    complain("the token may not do this on " + where + code + ": " + detail);
    exit_code = kFailure;
  } else if (status == 400 || status == 413 || status == 431) {
    complain("server " + where + " rejected the request" + code + ": " + detail);
    exit_code = kUsage;
  } else if (status == 404 && detail.rfind("no such endpoint", 0) != 0) {
    // The route exists; what it names does not (an alert id, ...).
    complain("server " + where + ": " + detail + code);
    exit_code = kFailure;
  } else if (status == 404 || status == 405) {
    complain("server " + where + " does not offer " + std::string(method) + " " + target.substr(0, target.find('?')) +
             code + ": " + detail + " (is it a Vigil collector of the same version?)");
    exit_code = kFailure;
  } else {
    complain("server " + where + " failed" + code + ": " + detail);
    exit_code = kFailure;
  }
  return std::nullopt;
}

const json::array* array_field(const json::object& o, std::string_view key, const std::string& where, int& exit_code) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_array()) {
    complain("unexpected answer from " + where + ": no '" + std::string(key) + "' list");
    exit_code = kFailure;
    return nullptr;
  }
  return &v->as_array();
}

// ---------------------------------------------------------------- commands

struct EnrollTokenArgs {
  std::optional<int> uses;
  std::string ttl;
  bool json = false;
};

int cmd_enroll_token_create(const CtlFlags& flags, const EnrollTokenArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  json::object body;
  if (a.uses) body["uses"] = *a.uses;
  if (!a.ttl.empty()) body["ttl"] = a.ttl;
  auto r = call_object(*s, "POST", "/api/v1/enroll-tokens", json::serialize(body), code);
  if (!r) return code;
  const std::string token = field_text(*r, "token");
  if (token.empty()) {
    complain("unexpected answer from " + s->client.server().authority() + ": no token");
    return kFailure;
  }
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  const std::string uses = field_text(*r, "uses");
  std::cout << "Enrollment token (" << uses << (uses == "1" ? " use" : " uses") << ", valid until "
            << field_text(*r, "expires") << "):\n\n  " << token << "\n\n"
            << "Enroll a device with (as root on the device):\n"
            << "  vigil-agent enroll --server " << ServerUrl{s->client.server().host, 7443}.authority()
            << " --token " << token << " --ca " << s->settings.ca_path << " --data-dir /var/lib/vigil-agent\n"
            << "Keep the token secret: anyone holding it can enroll a device until it expires or is used up.\n";
  return kOk;
}

struct EventsArgs {
  std::string device, user, type, since, until, path;
  std::optional<int> limit;
  bool json = false;
};

int cmd_events(const CtlFlags& flags, const EventsArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + url_encode(value);
  };
  add("device", a.device);
  add("user", a.user);
  add("type", a.type);
  add("since", a.since);
  add("until", a.until);
  add("path", a.path);
  if (a.limit) add("limit", std::to_string(*a.limit));
  auto r = call_object(*s, "GET", "/api/v1/events" + query, "", code);
  if (!r) return code;
  auto* events = array_field(*r, "events", s->client.server().authority(), code);
  if (!events) return code;
  if (a.json) {
    for (const auto& e : *events) std::cout << json::serialize(e) << '\n';
    std::cout.flush();
    return kOk;
  }
  if (events->empty()) {
    std::cout << "No events match.\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  rows.reserve(events->size());
  for (const auto& v : *events) {
    if (!v.is_object()) continue;
    const auto& e = v.as_object();
    rows.push_back({short_time(field_text(e, "time")), field_text(e, "device_id"), field_text(e, "user"),
                    field_text(e, "type"), event_summary(e)});
  }
  print_table(std::cout, {"TIME", "DEVICE", "USER", "TYPE", "PATH/SUMMARY"}, rows);
  return kOk;
}

// The collection config a device runs, and the version it refused if any.
std::string config_cell(const json::object& d) {
  std::string v = field_text(d, "config_version");
  if (v.empty()) return "";
  std::string e = field_text(d, "config_error");
  if (!e.empty()) v += " (refused " + field_text(d, "config_error_version") + ": " + e.substr(0, 60) + ")";
  return v;
}

int cmd_devices(const CtlFlags& flags, bool as_json) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call_object(*s, "GET", "/api/v1/devices", "", code);
  if (!r) return code;
  auto* devices = array_field(*r, "devices", s->client.server().authority(), code);
  if (!devices) return code;
  if (as_json) {
    for (const auto& d : *devices) std::cout << json::serialize(d) << '\n';
    std::cout.flush();
    return kOk;
  }
  if (devices->empty()) {
    std::cout << "No devices enrolled. Create a token with 'vigilctl enroll-token create'.\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : *devices) {
    if (!v.is_object()) continue;
    const auto& d = v.as_object();
    std::string last_seen = field_text(d, "last_seen");
    rows.push_back({field_text(d, "device_id"), field_text(d, "hostname"), field_text(d, "os"),
                    field_text(d, "agent_version"), field_text(d, "status"), last_seen.empty() ? "never" : last_seen,
                    field_text(d, "events_received"), field_text(d, "events_lost"), config_cell(d)});
  }
  print_table(std::cout, {"DEVICE", "HOSTNAME", "OS", "VERSION", "STATUS", "LAST SEEN", "EVENTS", "LOST", "CONFIG"}, rows);
  return kOk;
}

struct ConfigArgs {
  std::string device;
  std::string file;
  bool json = false;
};

std::string config_target(const std::string& device) {
  return "/api/v1/collection-config" + (device.empty() ? std::string() : "?device=" + url_encode(device));
}

std::string joined(const json::object& o, std::string_view key) {
  std::string out;
  if (auto* v = o.if_contains(key); v && v->is_array())
    for (const auto& e : v->as_array()) out += (out.empty() ? "" : ", ") + (e.is_string() ? std::string(e.as_string()) : json::serialize(e));
  return out.empty() ? "(none)" : out;
}

void print_config(const json::object& c) {
  auto line = [](const char* name, const std::string& value) { std::cout << name << value << '\n'; };
  std::string source = field_text(c, "source");
  line("version:                ", field_text(c, "version") + (source.empty() ? "" : " (" + source + ")"));
  if (!field_text(c, "device").empty()) line("device:                 ", field_text(c, "device"));
  std::string updated = field_text(c, "updated");
  line("updated:                ", updated.empty() ? "never" : updated);
  line("watch_paths:            ", joined(c, "watch_paths"));
  line("exclude_paths:          ", joined(c, "exclude_paths"));
  line("priority_paths:         ", joined(c, "priority_paths"));
  line("classification_enabled: ", field_text(c, "classification_enabled"));
  line("classify_max_bytes:     ", field_text(c, "classify_max_bytes"));
  line("classify_max_ms:        ", field_text(c, "classify_max_ms"));
  line("cpu_limit_percent:      ", field_text(c, "cpu_limit_percent"));
  line("rss_limit_bytes:        ", field_text(c, "rss_limit_bytes"));
  std::vector<std::vector<std::string>> rows;
  if (auto* rules = c.if_contains("rules"); rules && rules->is_array())
    for (const auto& r : rules->as_array()) {
      if (!r.is_object()) continue;
      const auto& o = r.as_object();
      std::string what = field_text(o, "kind") == "regex" ? field_text(o, "regex") : joined(o, "keywords");
      if (field_text(o, "kind") == "builtin") what = "";
      rows.push_back({field_text(o, "id"), field_text(o, "kind"), field_text(o, "min_count"), what});
    }
  if (rows.empty()) {
    line("rules:                  ", "(none)");
  } else {
    std::cout << "rules:\n";
    print_table(std::cout, {"  ID", "KIND", "MIN", "MATCHES"}, [&] {
      for (auto& r : rows) r[0] = "  " + r[0];
      return rows;
    }());
  }
}

int cmd_config_show(const CtlFlags& flags, const ConfigArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call_object(*s, "GET", config_target(a.device), "", code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  print_config(*r);
  return kOk;
}

int cmd_config_set(const CtlFlags& flags, const ConfigArgs& a) {
  std::string body;
  if (a.file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    body = ss.str();
  } else {
    std::ifstream in(a.file, std::ios::binary);
    if (!in) {
      complain("cannot read " + a.file);
      return kUsage;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  // Checked here only for being JSON, so the message points at the file; the server checks the rest.
  boost::system::error_code ec;
  (void)json::parse(body, ec);
  if (ec) {
    complain(a.file + " is not valid JSON: " + ec.message());
    return kUsage;
  }
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call_object(*s, "PUT", config_target(a.device), body, code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  std::cout << "Collection config version " << field_text(*r, "version") << " stored"
            << (a.device.empty() ? " for all devices" : " for device " + a.device)
            << "; connected agents get it now, the others when they connect.\n";
  return kOk;
}

int cmd_config_reset(const CtlFlags& flags, const ConfigArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call_object(*s, "DELETE", config_target(a.device), "", code);
  if (!r) return code;
  if (a.json) {
    std::cout << json::serialize(*r) << std::endl;
    return kOk;
  }
  if (field_text(*r, "removed") == "true")
    std::cout << "Device " << a.device << " follows the global collection config again (version " << field_text(*r, "version") << ").\n";
  else
    std::cout << "Device " << a.device << " had no override; nothing changed.\n";
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vigilctl: manage a Vigil collector through its HTTPS API"};
  app.name("vigilctl");
  app.set_version_flag("--version", std::string("vigilctl ") + VIGIL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command

  CtlFlags flags;
  app.add_option("--server", flags.server, "API URL, e.g. https://127.0.0.1:8443 (else VIGIL_SERVER)");
  app.add_option("--ca", flags.ca, "the collector's CA certificate (PEM) to trust (else VIGIL_CA)");
  app.add_option("--token", flags.token, "API token (else VIGIL_TOKEN)");
  app.add_option("--config", flags.config, "config file instead of ~/.config/vigil/vigilctl.toml");
  app.footer("Settings not given as options come from VIGIL_SERVER, VIGIL_CA, VIGIL_TOKEN, then\n"
             "~/.config/vigil/vigilctl.toml (server, ca, token or token_file).\n"
             "Exit codes: 0 ok, 1 failure, 2 usage or configuration error.");

  int result = kOk;

  auto* enroll = app.add_subcommand("enroll-token", "enrollment tokens for new devices");
  enroll->require_subcommand(1);
  EnrollTokenArgs et;
  auto* create = enroll->add_subcommand("create", "mint a token that lets devices enroll");
  create->add_option("--uses", et.uses, "how many devices may enroll with it (default 1)")->check(CLI::Range(1, 100000));
  create->add_option("--ttl", et.ttl, "how long it stays valid, e.g. 1h, 24h, 7d (default 24h, at most 365d)");
  create->add_flag("--json", et.json, "print {\"token\": ...} as one JSON line");
  create->callback([&] { result = cmd_enroll_token_create(flags, et); });

  EventsArgs ev;
  auto* events = app.add_subcommand("events", "query device activity");
  events->add_option("--device", ev.device, "only this device id");
  events->add_option("--user", ev.user, "only this login user");
  events->add_option("--type", ev.type, "event type (file.create) or prefix ending in '.' (file.)");
  events->add_option("--since", ev.since, "from this time: RFC 3339 or a duration ago (1h, 7d)");
  events->add_option("--until", ev.until, "before this time: RFC 3339 or a duration ago");
  events->add_option("--path", ev.path, "file path glob, e.g. '/home/*/secret*'");
  events->add_option("--limit", ev.limit, "at most this many of the newest matches (default 1000)")
      ->check(CLI::Range(1, 100000));
  events->add_flag("--json", ev.json, "one JSON object per line");
  events->callback([&] { result = cmd_events(flags, ev); });

  bool devices_json = false;
  auto* devices = app.add_subcommand("devices", "list enrolled devices and their health");
  devices->add_flag("--json", devices_json, "one JSON object per line");
  devices->callback([&] { result = cmd_devices(flags, devices_json); });

  ConfigArgs cf;
  auto* config = app.add_subcommand("config", "the collection config pushed to agents (what to watch and classify)");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the global config, or what one device must run");
  show->add_option("--device", cf.device, "the config this device must run (its override, else the global one)");
  show->add_flag("--json", cf.json, "print it as one JSON object");
  show->callback([&] { result = cmd_config_show(flags, cf); });
  auto* set = config->add_subcommand("set", "replace the global config (or a device's override) with FILE.json");
  set->add_option("file", cf.file, "JSON file with the config ('-' reads stdin); see docs/COLLECTION_CONFIG.md")->required();
  set->add_option("--device", cf.device, "set this device's override instead of the global config");
  set->add_flag("--json", cf.json, "print the stored config as one JSON object");
  set->callback([&] { result = cmd_config_set(flags, cf); });
  auto* reset = config->add_subcommand("reset", "remove a device's override: it follows the global config again");
  reset->add_option("--device", cf.device, "the device")->required();
  reset->add_flag("--json", cf.json, "print the answer as one JSON object");
  reset->callback([&] { result = cmd_config_reset(flags, cf); });

  add_policy_commands(app, flags, result);
  add_import_commands(app, flags, result);
  add_auth_commands(app, flags, result);  // auth: login, logout, whoami, accounts, roles, role-groups, tokens
  add_audit_commands(app, flags, result);  // audit (audit_commands.cpp)
  add_activity_commands(app, flags, result);
  // alerts, users --in-scope, analytics (alert_commands.cpp): plain GETs through one session.
  add_alert_commands(app, [&flags](const std::string& target, int& code) -> std::optional<json::object> {
    auto s = open_session(flags, code);
    if (!s) return std::nullopt;
    return call_object(*s, "GET", target, "", code);
  }, result);
  add_case_commands(app, flags, result);  // alerts dismiss|confirm|attach, cases, notices (after the alert commands)

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    complain(e.what());
    std::cerr << "Run 'vigilctl --help' for usage.\n";
    return kUsage;
  }
  return result;
}
