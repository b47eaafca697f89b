#include "collector/ctl/session.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "collector/ctl/output.h"

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

std::optional<Answer> call(Session& s, std::string_view method, const std::string& target, const std::string& body,
                           int& code, const std::string& content_type, std::initializer_list<int> pass) {
  const std::string where = s.client.server().authority();
  HttpHeaders headers{{"Authorization", "Bearer " + s.settings.token}};
  if (!body.empty()) headers.emplace_back("Content-Type", content_type);
  auto res = s.client.request(method, target, headers, body);
  if (!res) {
    complain(res.error());
    code = kFailure;
    return std::nullopt;
  }
  Answer a;
  a.status = res->status;
  boost::system::error_code ec;
  auto v = boost::json::parse(res->body, ec);
  if (!ec && v.is_object()) a.body = std::move(v.as_object());
  if ((a.status >= 200 && a.status < 300) || std::find(pass.begin(), pass.end(), a.status) != pass.end()) {
    if (ec || !v.is_object()) {
      complain("unexpected answer from " + where + target + ": not a JSON object");
      code = kFailure;
      return std::nullopt;
    }
    return a;
  }
  std::string detail = field_text(a.body, "error");
  if (detail.empty()) detail = res->body.substr(0, 200);
  const std::string st = " (" + std::to_string(a.status) + ")";
  if (a.status == 400 || a.status == 404 || a.status == 409 || a.status == 413 || a.status == 415) {
    complain("server " + where + " rejected the request" + st + ": " + detail);
    code = kUsage;
  } else if (a.status == 401) {
    complain("server " + where + " refused the token" + st + ": " + detail);
    code = kFailure;
  } else {
    complain("server " + where + " failed" + st + ": " + detail);
    code = kFailure;
  }
  return std::nullopt;
}

std::optional<std::string> read_input(const std::string& file, int& code) {
  std::ostringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    complain("cannot read " + file);
    code = kUsage;
    return std::nullopt;
  }
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace vigil::ctl
