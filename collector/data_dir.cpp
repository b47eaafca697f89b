#include "collector/data_dir.h"

#include <unistd.h>

#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "shared/file_util.h"

namespace vigil::collector {

Status init_data_dir(const DataDir& dir, const InitOptions& opts) {
  if (file_exists(dir.path("ca.pem")))
    return err(dir.path("ca.pem") + " already exists: this data directory is initialised (refusing to replace its CA)");
  if (auto s = ensure_dir(dir.root, 0700); !s) return s;

  auto ca = pki::create_ca("Vigil Collector CA", 3650);
  if (!ca) return err("creating the CA: " + ca.error());
  auto server_key = pki::generate_key_pem();
  if (!server_key) return err("creating the server key: " + server_key.error());
  std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
  for (const auto& n : opts.server_names) names.push_back(n);
  auto server_cert = pki::issue_server_cert(*ca, *server_key, "vigil-collector", names, 825);
  if (!server_cert) return err("issuing the server certificate: " + server_cert.error());

  std::string token = crypto::random_token(32);
  struct Item { const char* name; const std::string& content; unsigned mode; };
  const Item items[] = {
      {"ca.key", ca->key_pem, 0600},         {"ca.pem", ca->cert_pem, 0644},
      {"server.key", *server_key, 0600},     {"server.pem", *server_cert, 0644},
      {"admin.token", token, 0600},
  };
  for (const auto& it : items)
    if (auto s = write_file_atomic(dir.path(it.name), it.content, it.mode); !s) return s;
  if (opts.write_config && !file_exists(dir.path("collector.toml")))
    if (auto s = write_file_atomic(dir.path("collector.toml"), render_collector_config(opts.config), 0644); !s) return s;
  const std::string& db = opts.config.sqlite_path;
  auto store = open_sqlite_event_store(db.starts_with("/") ? db : dir.path(db));
  if (!store) return err("creating the database: " + store.error());
  return {};
}

Result<LoadedIdentity> load_identity(const DataDir& dir) {
  LoadedIdentity id;
  struct Want { const char* name; std::string* into; };
  std::string token;
  const Want wants[] = {{"ca.pem", &id.ca.cert_pem}, {"ca.key", &id.ca.key_pem},
                        {"server.pem", &id.server_cert_pem}, {"server.key", &id.server_key_pem},
                        {"admin.token", &token}};
  for (const auto& w : wants) {
    auto content = read_file(dir.path(w.name));
    if (!content) return err(content.error() + " (run `vigil-collector init --data-dir " + dir.root + "` first)");
    *w.into = std::move(*content);
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return err(dir.path("admin.token") + " is empty");
  id.admin_token_sha256 = crypto::sha256_hex(token);
  return id;
}

}  // namespace vigil::collector
