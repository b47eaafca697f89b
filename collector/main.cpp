// vigil-collector: `init` creates a data directory (CA, server identity, admin token, config,
// database); `run` serves agents (7443, mutual TLS) and the API (8443, HTTPS) until SIGTERM.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <iostream>
#include <thread>

#include "collector/activity/activity_cursor.h"
#include "collector/activity/activity_exports.h"
#include "collector/api/api_server.h"
#include "collector/auth/account_cli.h"   // auth
#include "collector/auth/auth_service.h"  // auth
#include "collector/audit/audit_log.h"
#include "collector/siem/siem_forwarder.h"
#include "shared/file_util.h"
#include <unistd.h>
#include "collector/collector_config.h"
#include "collector/config/collection_configs.h"
#include "collector/data_dir.h"
#include "collector/cases/case_service.h"
#include "collector/ingest/batch_writer.h"
#include "collector/ingest/ingest_server.h"
#include "collector/policy/csv_import.h"
#include "collector/policy/drop_dir.h"
#include "collector/policy/policy_store.h"
#include "collector/ingest/recorded_import.h"
#include "collector/policy/alert_store.h"
#include "collector/policy/engine.h"
#include "collector/policy/engine_feed.h"
#include "collector/policy/history_loader.h"
#include "collector/store/sqlite_event_store.h"
#include "collector/trust/enrollment.h"
#include "shared/file_util.h"
#include "shared/log.h"
#include "shared/time_util.h"

using namespace vigil;
using namespace vigil::collector;

namespace {

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "vigil-collector: %s\n", msg.c_str());
  return code;
}

// config_path: "" = DATA_DIR/collector.toml (written by init); else that file, which must exist.
std::string config_file(const DataDir& dir, const std::string& config_path) {
  return config_path.empty() ? dir.path("collector.toml") : config_path;
}

int cmd_init(const std::string& data_dir, const std::vector<std::string>& sans, const std::string& config_path,
             bool exist_ok) {
  DataDir dir{data_dir};
  if (exist_ok && file_exists(dir.path("ca.pem"))) {
    std::printf("%s is already initialised; nothing to do\n", data_dir.c_str());
    return 0;
  }
  InitOptions opts;
  opts.server_names = sans;
  if (!config_path.empty()) {
    auto cfg = load_collector_config(config_path);
    if (!cfg) return fail(cfg.error(), 2);
    opts.config = *cfg;
    opts.write_config = false;
  }
  if (auto s = init_data_dir(dir, opts); !s) return fail(s.error());
  std::printf(
      "Initialised %s\n"
      "  CA certificate:  %s\n"
      "  admin token:     %s   (keep it secret; mode 0600)\n"
      "  configuration:   %s\n\n"
      "Start the collector:\n"
      "  vigil-collector run --data-dir %s%s%s\n\n"
      "Enroll an agent:\n"
      "  export VIGIL_SERVER=https://127.0.0.1:%u VIGIL_CA=%s VIGIL_TOKEN=$(cat %s)\n"
      "  TOKEN=$(vigilctl enroll-token create --uses 1 --ttl 24h --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')\n"
      "  vigil-agent enroll --server 127.0.0.1:%u --token \"$TOKEN\" --ca %s --data-dir /var/lib/vigil-agent\n",
      data_dir.c_str(), dir.path("ca.pem").c_str(), dir.path("admin.token").c_str(),
      config_file(dir, config_path).c_str(), data_dir.c_str(), config_path.empty() ? "" : " --config ",
      config_path.c_str(), opts.config.api_port, dir.path("ca.pem").c_str(),
      dir.path("admin.token").c_str(), opts.config.ingest_port, dir.path("ca.pem").c_str());
  return 0;
}

int cmd_run(const std::string& data_dir, const std::string& config_path) {
  DataDir dir{data_dir};
  auto cfg = load_collector_config(config_file(dir, config_path));
  if (!cfg) return fail(cfg.error(), 2);
  auto id = load_identity(dir);
  if (!id) return fail(id.error(), 2);
  std::string db_path = cfg->sqlite_path.starts_with("/") ? cfg->sqlite_path : dir.path(cfg->sqlite_path);
  auto store = open_sqlite_event_store(db_path);
  if (!store) return fail("opening " + db_path + ": " + store.error());
  auto configs = CollectionConfigs::open(db_path);
  if (!configs) return fail("opening the collection configs in " + db_path + ": " + configs.error());
  // Policies, DLP rules, HR records and user attributes. The policy engine reads them through
  // std::shared_ptr<const policy::PolicyDirectory>(policies).
  auto policies = policy::SqlitePolicyStore::open(db_path);
  if (!policies) return fail("opening the policies in " + db_path + ": " + policies.error());
  auto in_data_dir = [&](const std::string& p) { return p.starts_with("/") ? p : dir.path(p); };
  policy::DropDirImporter drop_dir(*policies, {in_data_dir(cfg->import_hr_dir), in_data_dir(cfg->import_attributes_dir),
                                               std::chrono::seconds(cfg->import_poll_seconds), std::chrono::seconds(1)});
  if (auto s = drop_dir.start(); !s) return fail(s.error());

  TlsOptions ingest_tls{TlsRole::Server, id->ca.cert_pem, id->server_cert_pem, id->server_key_pem, ClientAuth::Optional, ""};
  auto ingest_cfg = TlsConfig::create(ingest_tls);
  if (!ingest_cfg) return fail("TLS setup for ingest: " + ingest_cfg.error());
  TlsOptions api_tls = ingest_tls;
  api_tls.client_auth = ClientAuth::None;
  auto api_cfg = TlsConfig::create(api_tls);
  if (!api_cfg) return fail("TLS setup for the API: " + api_cfg.error());

  std::shared_ptr<const policy::PolicyDirectory> directory = *policies;
  auto alert_store = policy::AlertStore::open(db_path);
  if (!alert_store) return fail("opening the policy engine state in " + db_path + ": " + alert_store.error());
  policy::EngineSettings engine_settings;
  engine_settings.work_start_hour = cfg->work_start_hour;
  engine_settings.work_end_hour = cfg->work_end_hour;
  engine_settings.utc_offset_minutes = cfg->utc_offset_minutes;
  engine_settings.analytics_min_group = static_cast<std::size_t>(cfg->analytics_min_group);
  policy::PolicyEngine engine(directory, engine_settings, alert_store->get());
  if (auto s = engine.load(); !s) return fail(s.error());
  if (!engine.has_history()) {
    // A new engine state: count what the store already holds, so baselines start from history.
    constexpr std::uint32_t kPrimeDays = 90;
    constexpr std::size_t kPrimeMaxEvents = 2'000'000;
    auto primed = policy::prime_from_store(engine, **store, now_ns(), kPrimeDays, kPrimeMaxEvents);
    if (!primed) return fail(primed.error());
    if (*primed) log::info("policy", "engine primed from stored events", {{"events", std::to_string(*primed)}});
  }
  // siem (collector/siem): alerts to the SIEM as TLS syslog through a durable outbox
  // (docs/SIEM.md). Set up before the engine is fed; stopped after the feed (declared before it).
  std::unique_ptr<siem::SiemOutbox> siem_outbox;
  std::unique_ptr<siem::SiemForwarder> siem_forwarder;
  if (cfg->siem_enabled) {
    auto ca = read_file(in_data_dir(cfg->siem_ca));
    if (!ca) return fail("siem.ca: " + ca.error(), 2);
    auto outbox = siem::SiemOutbox::open(dir.path("siem.db"));
    if (!outbox) return fail("opening the SIEM outbox: " + outbox.error());
    siem_outbox = std::move(*outbox);
    siem::SiemSettings ss;
    ss.host = cfg->siem_host;
    ss.port = cfg->siem_port;
    ss.ca_pem = *ca;
    ss.server_name = cfg->siem_server_name;
    ss.format = cfg->siem_format == "cef" ? siem::SiemFormat::Cef : siem::SiemFormat::Json;
    ss.include_events = cfg->siem_include_events;
    ss.identity.app_name = cfg->siem_app_name;
    ss.identity.hostname = cfg->siem_hostname.empty() ? siem::local_hostname() : cfg->siem_hostname;
    ss.identity.procid = std::to_string(::getpid());
    auto fwd = siem::SiemForwarder::create(*siem_outbox, ss, store->get());
    if (!fwd) return fail(fwd.error(), 2);
    siem_forwarder = std::move(*fwd);
    engine.set_alert_listener([f = siem_forwarder.get()](const policy::Alert& a) {
      if (auto s = f->on_alert(a); !s) log::error("siem", "an alert could not be queued for the SIEM", {{"alert", a.id}, {"error", s.error()}});
    });
    siem_forwarder->start();
  }
  policy::EngineFeed feed(engine);

  boost::asio::io_context io(cfg->io_threads);
  BatchWriter writer(**store, 64, [&feed](const std::string& device, std::shared_ptr<const v1::EventBatch> batch) {
    feed.push(device, std::move(batch));
  });
  Enrollment enrollment(**store, id->ca);
  IngestServer ingest(io, *ingest_cfg, **store, writer, enrollment,
                      IngestOptions{cfg->ingest_address, cfg->ingest_port}, configs->get());
  if (auto s = ingest.listen(); !s) return fail(s.error());
  ApiOptions api_opts;
  api_opts.address = cfg->api_address;
  api_opts.port = cfg->api_port;
  api_opts.admin_token_sha256 = id->admin_token_sha256;
  // Room for a CSV import at its size cap, so the importer (not the HTTP layer) says what is wrong.
  api_opts.max_body_bytes = std::max(api_opts.max_body_bytes, policy::kMaxCsvBytes + (64u << 10));
  // auth: accounts, role groups, tokens (DATA_DIR/auth.db) and pseudonyms (DATA_DIR/pseudonym.key).
  auto accounts = auth::AccountStore::open(dir.path("auth.db"));
  if (!accounts) return fail("opening the account store: " + accounts.error());
  auto pseudonyms = auth::Pseudonymizer::from_key_file(dir.path("pseudonym.key"));
  if (!pseudonyms) return fail(pseudonyms.error());
  auth::AuthService auth_service(**accounts, std::move(*pseudonyms), policies->get(),
                                 auth::PrivacySettings{cfg->privacy_reveal_names == "by_role"});
  ApiServer api(io, *api_cfg, **store, api_opts, configs->get(), policies->get(), &engine);
  api.handler().set_auth_service(&auth_service);  // auth
  RecordedImport recorded(**store, [&feed](const std::string& device, std::shared_ptr<const v1::EventBatch> batch) {
    feed.push(device, std::move(batch));
  });
  api.handler().set_recorded_import(&recorded);
  // audit (collector/audit): every change and refusal, chained and keyed (docs/AUDIT.md). A log
  // that does not check out at its tail stops the start rather than be written over.
  auto audit_log = audit::AuditLog::open(data_dir);
  if (!audit_log) return fail(audit_log.error(), 2);
  api.handler().set_audit_sink(audit_log->get());
  api.handler().set_audit_log(audit_log->get());
  // activity (api_activity.cpp): signed paging cursors and background exports under DATA_DIR/exports.
  auto activity_cursors = ActivityCursors::open(dir.path("activity-cursor.key"));
  if (!activity_cursors) return fail(activity_cursors.error());
  auto activity_exports = ActivityExports::open(**store, dir.path("exports"));
  if (!activity_exports) return fail(activity_exports.error());
  api.handler().set_activity(&*activity_cursors, activity_exports->get());
  // cases (collector/cases): triage, cases, notices; cases.db beside the other state.
  auto case_store = cases::CaseStore::open(dir.path("cases.db"));
  if (!case_store) return fail("opening " + dir.path("cases.db") + ": " + case_store.error());
  std::unique_ptr<cases::Mailer> mailer;
  if (!cfg->smtp_host.empty())
    mailer = std::make_unique<cases::SmtpMailer>(cases::SmtpSettings{cfg->smtp_host, static_cast<std::uint16_t>(cfg->smtp_port),
                                                                     cfg->smtp_from, cfg->smtp_starttls, cfg->smtp_ca_file,
                                                                     cfg->smtp_timeout_seconds});
  cases::CaseService case_service(std::move(*case_store), engine, **store, directory, dir.path("exports"), std::move(mailer));
  if (auto s = case_service.reconcile(); !s) return fail("applying triage decisions to the alerts: " + s.error());
  api.handler().set_case_service(&case_service);
  if (auto s = api.listen(); !s) return fail(s.error());

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log::info("collector", "stopping", {{"signal", std::to_string(sig)}});
    ingest.stop();
    api.stop();
    io.stop();
  });
  log::info("collector", "running", {{"data_dir", data_dir}, {"version", VIGIL_VERSION}});
  std::vector<std::thread> threads;
  for (int i = 1; i < cfg->io_threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  drop_dir.stop();
  writer.stop();
  feed.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Vigil collector: stores agents' activity and serves the API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vigil-collector ") + VIGIL_VERSION);
  std::string data_dir;
  std::vector<std::string> sans;
  std::string config_path;
  bool exist_ok = false;
  auto* init = app.add_subcommand("init", "create a data directory: CA, server certificate, admin token, config, database");
  init->add_option("--data-dir", data_dir, "data directory to create")->required();
  init->add_option("--san", sans, "extra DNS name or address for the server certificate (repeatable)");
  init->add_option("--config", config_path, "use this configuration file instead of writing DATA_DIR/collector.toml")
      ->check(CLI::ExistingFile);
  init->add_flag("--exist-ok", exist_ok, "succeed without changes when the data directory is already initialised");
  // auth: the first admin account (docs/ROLES.md)
  std::string account_name;
  std::vector<std::string> account_groups;
  bool account_admin = false, password_stdin = false;
  auto* accounts_cmd = app.add_subcommand("accounts", "manage accounts directly in DATA_DIR/auth.db (first admin, recovery)");
  accounts_cmd->require_subcommand(1);
  auto* account_add = accounts_cmd->add_subcommand("add", "create an account; the password is prompted or read from stdin");
  account_add->add_option("--data-dir", data_dir, "data directory made by init")->required();
  account_add->add_option("name", account_name, "account name")->required();
  account_add->add_option("--group", account_groups, "role group to join (repeatable)");
  account_add->add_flag("--admin", account_admin, "join the built-in 'insider_risk_management' group (every role)");
  account_add->add_flag("--password-stdin", password_stdin, "read the password from stdin instead of prompting");
  auto* run = app.add_subcommand("run", "serve agents and the API in the foreground until SIGTERM");
  run->add_option("--data-dir", data_dir, "data directory made by init")->required();
  run->add_option("--config", config_path, "configuration file (default DATA_DIR/collector.toml); relative paths in it "
                  "stay relative to the data directory")->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*init) return cmd_init(data_dir, sans, config_path, exist_ok);
  if (*accounts_cmd) {  // auth
    if (account_admin) account_groups.push_back("insider_risk_management");
    if (auto s = auth::add_account_from_cli(data_dir, account_name, account_groups, password_stdin); !s) return fail(s.error());
    return 0;
  }
  return cmd_run(data_dir, config_path);
}
