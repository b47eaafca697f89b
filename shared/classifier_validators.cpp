#include "shared/classifier_validators.h"

#include <array>
#include <cstddef>

namespace vigil::classify {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alnum(char c) { return is_digit(c) || is_upper(c) || is_lower(c); }

// The number formed by the first n digits of s (n <= 9, s holds at least n digits).
int prefix_value(std::string_view s, std::size_t n) {
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

bool card_issuer_length_ok(std::string_view d) {
  const std::size_t n = d.size();
  if (n < 13 || n > 19) return false;
  if (d[0] == '4') return n == 13 || n == 16 || n == 19;  // Visa
  const int p2 = prefix_value(d, 2), p3 = prefix_value(d, 3), p4 = prefix_value(d, 4);
  if (p2 >= 51 && p2 <= 55) return n == 16;        // Mastercard
  if (p4 >= 2221 && p4 <= 2720) return n == 16;    // Mastercard 2-series
  if (p2 == 34 || p2 == 37) return n == 15;        // Amex
  const bool discover = p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 ||
                        (prefix_value(d, 6) >= 622126 && prefix_value(d, 6) <= 622925);
  return discover && n >= 16;
}

struct IbanCountry {
  char code[3];
  int length;
};

// Registered IBAN lengths (SWIFT IBAN registry) for the SEPA area and the other common countries.
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
    {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

bool email_domain_valid(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  std::size_t labels = 0;
  std::size_t start = 0;
  std::string_view last;
  while (start <= d.size()) {
    std::size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) dot = d.size();
    std::string_view label = d.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-') return false;
    ++labels;
    last = label;
    start = dot + 1;
    if (dot == d.size()) break;
  }
  if (labels < 2 || last.size() < 2) return false;
  for (char c : last)
    if (!is_upper(c) && !is_lower(c)) return false;
  return true;
}

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool dbl = false;
  for (std::size_t i = digits.size(); i-- > 0;) {
    const char c = digits[i];
    if (!is_digit(c)) return false;
    int d = c - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool card_number_valid(std::string_view text) {
  if (text.size() < 13 || text.size() > 23) return false;
  std::array<char, 19> digits{};
  std::array<std::size_t, 6> groups{};
  std::size_t nd = 0, ng = 0, run = 0;
  char sep = 0;
  for (char c : text) {
    if (is_digit(c)) {
      if (nd == digits.size()) return false;
      digits[nd++] = c;
      ++run;
    } else if (c == ' ' || c == '-') {
      if (sep != 0 && c != sep) return false;  // mixed separators: not how cards are written
      if (run == 0 || ng + 1 >= groups.size()) return false;
      sep = c;
      groups[ng++] = run;
      run = 0;
    } else {
      return false;
    }
  }
  if (run == 0) return false;
  groups[ng++] = run;
  const std::string_view d(digits.data(), nd);
  if (!card_issuer_length_ok(d)) return false;
  if (ng > 1) {
    const bool four = (ng == 4 || ng == 5) && groups[0] == 4 && groups[1] == 4 && groups[2] == 4 &&
                      groups[3] == 4 && (ng == 4 || groups[4] == 3);
    const bool amex = ng == 3 && groups[0] == 4 && groups[1] == 6 && groups[2] == 5 && nd == 15;
    if (!four && !amex) return false;
  }
  return luhn_valid(d);
}

bool ssn_valid(std::string_view t) {
  if (t.size() != 11 || t[3] != '-' || t[6] != '-') return false;
  for (std::size_t i : {0, 1, 2, 4, 5, 7, 8, 9, 10})
    if (!is_digit(t[i])) return false;
  const int area = prefix_value(t, 3);
  const int group = prefix_value(t.substr(4), 2);
  const int serial = prefix_value(t.substr(7), 4);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  if (t == "078-05-1120" || t == "219-09-9999") return false;
  return true;
}

int iban_length_for_country(std::string_view country) {
  if (country.size() != 2) return 0;
  for (const auto& c : kIbanCountries)
    if (country[0] == c.code[0] && country[1] == c.code[1]) return c.length;
  return 0;
}

bool iban_valid(std::string_view text) {
  std::array<char, 34> iban{};
  std::size_t n = 0;
  // Print form: groups of exactly four separated by single spaces, the last one 1-4 long.
  std::size_t group = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') {
      if (group != 4 || i + 1 == text.size()) return false;
      group = 0;
      continue;
    }
    if (!is_digit(c) && !is_upper(c)) return false;
    if (n == iban.size()) return false;
    iban[n++] = c;
    ++group;
  }
  if (n < 15) return false;
  const std::string_view s(iban.data(), n);
  if (!is_upper(s[0]) || !is_upper(s[1]) || !is_digit(s[2]) || !is_digit(s[3])) return false;
  if (iban_length_for_country(s.substr(0, 2)) != static_cast<int>(n)) return false;
  // ISO 7064 mod 97-10 over BBAN + country + check digits, letters as 10..35.
  int r = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = s[(k + 4) % n];
    if (is_digit(c)) {
      r = (r * 10 + (c - '0')) % 97;
    } else {
      r = (r * 100 + (c - 'A' + 10)) % 97;
    }
  }
  return r == 1;
}

bool email_valid(std::string_view text) {
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  const std::string_view local = text.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  for (char c : local)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '%' && c != '+' && c != '-') return false;
  return email_domain_valid(text.substr(at + 1));
}

bool aws_key_id_valid(std::string_view t) {
  if (t.size() != 20) return false;
  if (t.substr(0, 4) != "AKIA" && t.substr(0, 4) != "ASIA") return false;
  for (char c : t.substr(4))
    if (!is_upper(c) && !(c >= '2' && c <= '7')) return false;
  return true;
}

bool aws_secret_value_valid(std::string_view v) {
  if (v.size() != 40) return false;
  bool upper = false, lower = false;
  for (char c : v) {
    if (!is_alnum(c) && c != '/' && c != '+') return false;
    upper |= is_upper(c);
    lower |= is_lower(c);
  }
  return upper && lower;
}

bool github_token_valid(std::string_view t) {
  std::string_view body;
  if (t.size() == 40 && t.substr(0, 2) == "gh" && t[3] == '_' &&
      std::string_view("pousr").find(t[2]) != std::string_view::npos) {
    body = t.substr(4);
    for (char c : body)
      if (!is_alnum(c)) return false;
  } else if (t.size() == 93 && t.substr(0, 11) == "github_pat_" && t[33] == '_') {
    body = t.substr(11);
    for (std::size_t i = 0; i < body.size(); ++i)
      if (i != 22 && !is_alnum(body[i])) return false;
  } else {
    return false;
  }
  std::array<bool, 256> seen{};
  int distinct = 0;
  for (char c : body) {
    auto& s = seen[static_cast<unsigned char>(c)];
    if (!s) ++distinct;
    s = true;
  }
  return distinct >= 10;
}

bool slack_token_valid(std::string_view t) {
  if (t.size() < 24 || t.substr(0, 3) != "xox" || t[4] != '-') return false;
  const char kind = t[3];
  if (kind != 'a' && kind != 'b' && kind != 'p' && kind != 'r') return false;
  bool digit = false;
  int dashes = 0;
  char prev = '-';
  for (char c : t.substr(5)) {
    if (c == '-') {
      if (prev == '-') return false;
      ++dashes;
    } else if (!is_alnum(c)) {
      return false;
    }
    digit |= is_digit(c);
    prev = c;
  }
  return digit && dashes >= 1 && prev != '-';
}

bool google_api_key_valid(std::string_view t) {
  if (t.size() != 39 || t.substr(0, 4) != "AIza") return false;
  for (char c : t.substr(4))
    if (!is_alnum(c) && c != '_' && c != '-') return false;
  return true;
}

}  // namespace vigil::classify
