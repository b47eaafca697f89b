// The text forms of classifier findings (declared in shared/classifier.h). In a file of their own
// because both classifier builds, with Hyperscan (classifier.cpp) and without it
// (without_hyperscan/classifier_unavailable.cpp), must render the same way: a finding carried in
// an event reads the same whichever agent produced it.
#include "shared/classifier.h"

namespace vigil {

std::string_view to_string(Finding::Confidence c) {
  switch (c) {
    case Finding::Confidence::Low:
      return "low";
    case Finding::Confidence::Medium:
      return "medium";
    case Finding::Confidence::High:
      return "high";
  }
  return "low";
}

std::string render_findings(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) {
    if (!out.empty()) out += ',';
    out += f.type_id;
    out += ':';
    out += std::to_string(f.count);
    out += ':';
    out += to_string(f.confidence);
  }
  return out;
}

}  // namespace vigil
