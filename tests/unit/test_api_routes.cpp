// The route table: matching, the 401/403/405/404 order, and that docs/api/openapi.yaml describes
// every route the handler has.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "collector/api/api_handler.h"

using namespace vigil::collector;
namespace http = boost::beast::http;

namespace {

// path -> methods, read from the openapi file's `paths:` section (two-space path keys, four-space
// method keys), which is the layout docs/api/openapi.yaml keeps.
std::map<std::string, std::set<std::string>> documented_routes() {
  std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/docs/api/openapi.yaml");
  REQUIRE(in.good());
  std::map<std::string, std::set<std::string>> out;
  std::string line, current;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line == "paths:") { in_paths = true; continue; }
    if (!in_paths) continue;
    if (!line.empty() && line[0] != ' ' && line[0] != '#') { in_paths = false; continue; }
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      current = line.substr(2, line.size() - 3);
      out[current];
    } else if (!current.empty() && line.size() > 5 && line.rfind("    ", 0) == 0 && line[4] != ' ') {
      auto colon = line.find(':');
      if (colon != std::string::npos) out[current].insert(line.substr(4, colon - 4));
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

TEST_CASE("every API route is described in docs/api/openapi.yaml", "[api_routes]") {
  const auto documented = documented_routes();
  REQUIRE(documented.size() > 10);
  for (const auto& r : ApiHandler::routes()) {
    const std::string method = lower(std::string_view(http::to_string(r.method).data(), http::to_string(r.method).size()));
    INFO(method << " " << r.pattern);
    auto it = documented.find(std::string(r.pattern));
    REQUIRE(it != documented.end());
    CHECK(it->second.count(method) == 1);
  }
}

TEST_CASE("route patterns are unique per method", "[api_routes]") {
  std::set<std::string> seen;
  for (const auto& r : ApiHandler::routes()) {
    const std::string key = std::string(http::to_string(r.method)) + " " + std::string(r.pattern);
    INFO(key);
    CHECK(seen.insert(key).second);
    CHECK(r.pattern.rfind("/api/v1/", 0) == 0);
  }
}
