#include "collector/cases/case_model.h"

namespace vigil::collector::cases {

const char* to_string(CaseStatus s) {
  switch (s) {
    case CaseStatus::Active: return "active";
    case CaseStatus::Escalated: return "escalated";
    case CaseStatus::Resolved: return "resolved";
  }
  return "active";
}

std::optional<CaseStatus> case_status_from_string(const std::string& s) {
  if (s == "active") return CaseStatus::Active;
  if (s == "escalated") return CaseStatus::Escalated;
  if (s == "resolved") return CaseStatus::Resolved;
  return std::nullopt;
}

const char* to_string(Resolution r) {
  switch (r) {
    case Resolution::None: return "";
    case Resolution::Benign: return "benign";
    case Resolution::Confirmed: return "confirmed";
  }
  return "";
}

std::optional<Resolution> resolution_from_string(const std::string& s) {
  if (s == "benign") return Resolution::Benign;
  if (s == "confirmed") return Resolution::Confirmed;
  if (s.empty()) return Resolution::None;
  return std::nullopt;
}

const char* to_string(Decision d) { return d == Decision::Dismissed ? "dismissed" : "confirmed"; }

std::optional<std::int64_t> parse_prefixed_id(const std::string& id, char prefix) {
  if (id.size() < 3 || id.size() > 20 || id[0] != prefix || id[1] != '-') return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
    n = n * 10 + (id[i] - '0');
  }
  if (n == 0) return std::nullopt;
  return n;
}

}  // namespace vigil::collector::cases
