#include "agent/enroll.h"

#include <uv.h>

#include "agent/agent_config.h"
#include "agent/capture.h"
#include "agent/uv_tls_stream.h"
#include "shared/file_util.h"
#include "shared/pki.h"
#include "vigil.pb.h"

namespace vigil::agent {

Result<std::string> enroll_device(const EnrollOptions& o) {
  AgentPaths paths{o.data_dir};
  if (file_exists(paths.cert()))
    return err(paths.cert() + " exists: this data directory is already enrolled (use a new --data-dir to re-enroll)");
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(o.server, 7443, host, port)) return err("--server must be HOST:PORT, got '" + o.server + "'");
  auto ca = read_file(o.ca_file);
  if (!ca) return err(ca.error());
  auto key = pki::generate_key_pem();
  if (!key) return err("generating the device key: " + key.error());
  auto csr = pki::make_csr(*key, "vigil-agent-enrollment");
  if (!csr) return err("making the certificate request: " + csr.error());
  TlsOptions topts;
  topts.role = TlsRole::Client;
  topts.ca_pem = *ca;
  topts.server_name = host;
  auto tls = TlsConfig::create(topts);
  if (!tls) return err("TLS setup: " + tls.error() + " (is " + o.ca_file + " the collector's ca.pem?)");

  HostInfo hi = host_info();
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string failure;
  v1::EnrollResponse answer;
  bool answered = false;
  {
    std::unique_ptr<UvTlsStream> stream;
    stream = std::make_unique<UvTlsStream>(
        &loop, *tls,
        UvTlsStream::Callbacks{
            [&] {
              v1::AgentMessage m;
              auto* r = m.mutable_enroll();
              r->set_token(o.token);
              r->set_csr_pem(*csr);
              r->set_hostname(hi.hostname);
              r->set_os(hi.os);
              r->set_agent_version(VIGIL_VERSION);
              stream->send_frame(m.SerializeAsString());
            },
            [&](std::string frame) {
              v1::CollectorMessage m;
              if (!m.ParseFromString(frame)) failure = "collector sent an unreadable answer";
              else if (m.has_error()) failure = "collector refused: " + m.error().message();
              else if (!m.has_enroll()) failure = "collector sent an unexpected answer";
              else { answer = m.enroll(); answered = true; }
              stream->close("done");
            },
            [&](const std::string& reason) {
              if (!answered && failure.empty()) failure = reason;
            }},
        o.timeout_ms);
    stream->connect(host, port);
    uv_run(&loop, UV_RUN_DEFAULT);
    stream.reset();
    uv_run(&loop, UV_RUN_DEFAULT);  // let libuv release the handles
  }
  uv_loop_close(&loop);

  if (!answered) return err(failure.empty() ? "no answer from the collector" : failure);
  if (!answer.ok()) return err("enrollment refused: " + answer.error());
  if (auto v = pki::verify_certificate(answer.cert_pem(), *ca); !v)
    return err("the collector's certificate for this device does not chain to " + o.ca_file + ": " + v.error());

  if (auto s = ensure_dir(o.data_dir, 0700); !s) return err(s.error());
  AgentConfig cfg;
  cfg.server = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
  cfg.device_id = answer.device_id();
  cfg.exclude = {};
  // Where user data lives on an endpoint; see docs/DECISIONS.md ("Reconciliation roots").
  cfg.reconcile_roots = {"/home", "/srv", "/media", "/mnt"};
  struct Item { std::string path; const std::string& content; unsigned mode; };
  std::string rendered = render_agent_config(cfg);
  const Item items[] = {{paths.key(), *key, 0600}, {paths.ca(), *ca, 0644},
                        {paths.config(), rendered, 0600}, {paths.cert(), answer.cert_pem(), 0644}};
  for (const auto& it : items)
    if (auto s = write_file_atomic(it.path, it.content, it.mode); !s) return err(s.error());
  return answer.device_id();
}

}  // namespace vigil::agent
