#include "collector/ctl/ctl_config.h"

#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>
#include <vector>

namespace vigil::ctl {

namespace fs = std::filesystem;

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return err(std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return err(std::strerror(errno));
  return std::move(ss).str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

struct FileSettings {
  bool exists = false;
  std::string server, ca, token, token_file;
};

Result<FileSettings> load_file(const std::string& path) {
  FileSettings out;
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  out.exists = true;
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return err(path + ":" + std::to_string(where.line) + ": " + std::string(e.description()));
  }
  const fs::path dir = fs::path(path).parent_path();
  auto relative_to_file = [&](const std::string& p) {
    return p.empty() || fs::path(p).is_absolute() ? p : (dir / p).string();
  };
  for (const auto& [key, value] : table) {
    const std::string k(key.str());
    std::string* slot = k == "server" ? &out.server : k == "ca" ? &out.ca : k == "token" ? &out.token
                      : k == "token_file" ? &out.token_file : nullptr;
    const auto line = key.source().begin.line;
    if (!slot)
      return err(path + ":" + std::to_string(line) + ": unknown key '" + k + "' (known: server, ca, token, token_file)");
    if (!value.is_string()) return err(path + ":" + std::to_string(line) + ": '" + k + "' must be a string");
    *slot = value.as_string()->get();
  }
  out.ca = relative_to_file(out.ca);
  out.token_file = relative_to_file(out.token_file);
  return out;
}

}  // namespace

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::string default_config_path() {
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) home = h;
  else if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) home = pw->pw_dir;
  else home = ".";
  return home + "/.config/vigil/vigilctl.toml";
}

Result<CtlSettings> resolve_settings(const CtlFlags& flags, const EnvLookup& env) {
  CtlSettings out;
  out.server = flags.server;
  out.ca_path = flags.ca;
  out.token = flags.token;
  if (out.server.empty()) out.server = env("VIGIL_SERVER").value_or("");
  if (out.ca_path.empty()) out.ca_path = env("VIGIL_CA").value_or("");
  if (out.token.empty()) out.token = env("VIGIL_TOKEN").value_or("");

  const std::string config_path = flags.config.empty() ? default_config_path() : flags.config;
  FileSettings file;
  if (out.server.empty() || out.ca_path.empty() || out.token.empty() || !flags.config.empty()) {
    if (!flags.config.empty() && !fs::exists(flags.config))
      return err("config file " + flags.config + " (from --config) does not exist");
    auto loaded = load_file(config_path);
    if (!loaded) return err("bad config file " + loaded.error());
    file = std::move(*loaded);
    if (out.server.empty()) out.server = file.server;
    if (out.ca_path.empty()) out.ca_path = file.ca;
    if (out.token.empty()) {
      if (!file.token.empty()) {
        out.token = file.token;
      } else if (!file.token_file.empty()) {
        auto t = read_file(file.token_file);
        if (!t) return err("cannot read token_file " + file.token_file + " (from " + config_path + "): " + t.error());
        out.token = trim(std::move(*t));
        if (out.token.empty()) return err("token_file " + file.token_file + " (from " + config_path + ") is empty");
      }
    }
  }

  std::vector<std::string> missing;
  const std::string where_file = config_path + (file.exists ? "" : " (not found)");
  if (out.server.empty()) missing.push_back("the server (--server https://HOST:8443, VIGIL_SERVER, or server = \"...\" in " + where_file + ")");
  if (out.ca_path.empty()) missing.push_back("the CA certificate (--ca FILE, VIGIL_CA, or ca = \"...\" in " + where_file + ")");
  if (out.token.empty()) missing.push_back("the API token (--token TOKEN, VIGIL_TOKEN, or token / token_file in " + where_file + ")");
  if (!missing.empty()) {
    std::string msg = "missing ";
    for (std::size_t i = 0; i < missing.size(); ++i) msg += (i ? "; missing " : "") + missing[i];
    return err(msg);
  }
  auto ca = read_file(out.ca_path);
  if (!ca) return err("cannot read CA file " + out.ca_path + ": " + ca.error());
  if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return err("CA file " + out.ca_path + " holds no PEM certificate");
  out.ca_pem = std::move(*ca);
  return out;
}

}  // namespace vigil::ctl
