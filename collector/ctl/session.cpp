#include "collector/ctl/session.h"

#include <iostream>

namespace vigil::ctl {

void complain(const std::string& message) { std::cerr << "vigilctl: " << message << '\n'; }

std::optional<Session> open_session(const CtlFlags& flags, int& exit_code) {
  auto settings = resolve_settings(flags, process_env);
  if (!settings) {
    complain(settings.error());
    exit_code = kUsage;
    return std::nullopt;
  }
  auto url = parse_server_url(settings->server);
  if (!url) {
    complain(url.error());
    exit_code = kUsage;
    return std::nullopt;
  }
  auto client = HttpsClient::create(*url, settings->ca_pem);
  if (!client) {
    complain(client.error() + " (CA file " + settings->ca_path + ")");
    exit_code = kUsage;
    return std::nullopt;
  }
  return Session{std::move(*settings), std::move(*client)};
}

}  // namespace vigil::ctl
