#include "collector/api/query_params.h"

namespace vigil::collector {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

SplitTarget split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

Result<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return err("bad percent-encoding in '" + std::string(text) + "' (expected %XX with two hex digits)");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return err("'" + std::string(text) + "' decodes to a NUL byte");
    out.push_back(c);
  }
  return out;
}

Result<QueryParams> parse_query(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    auto name = percent_decode(piece.substr(0, eq), true);
    if (!name) return err("query parameter name: " + name.error());
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percent_decode(piece.substr(eq + 1), true);
      if (!v) return err("query parameter '" + *name + "': " + v.error());
      value = std::move(*v);
    }
    params.emplace_back(std::move(*name), std::move(value));
  }
  return params;
}

}  // namespace vigil::collector
