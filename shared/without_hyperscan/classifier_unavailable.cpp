// The Classifier when Vigil is built without Hyperscan (VIGIL_WITH_HYPERSCAN=OFF: Windows, and
// any CPU Hyperscan does not support). Nothing is scanned and nothing pretends to be: create()
// fails with a message that starts "unavailable:", which the agent logs and carries as the
// classification status, so an analyst sees "not classified", never "nothing sensitive found".
// The rendering helpers are the same code in both builds (shared/classifier_render.cpp).
#include "shared/classifier.h"

namespace vigil {

struct Classifier::Impl {};

// The same ids, in the same order, as the Hyperscan build: rules from the collector that name
// them stay valid configuration on every platform.
std::vector<std::string> builtin_type_ids() {
  return {"credit_card", "us_ssn", "iban", "email", "private_key", "aws_access_key_id",
          "aws_secret_access_key", "github_token", "slack_token", "google_api_key"};
}

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::~Classifier() = default;

Result<std::unique_ptr<Classifier>> Classifier::create(const std::vector<ClassifierRule>&, const ClassifierOptions&) {
  return err("unavailable: content classification needs Hyperscan, and this agent was built without it "
             "(VIGIL_WITH_HYPERSCAN=OFF; see docs/WINDOWS.md)");
}

// Unreachable without a Classifier (create() never makes one); kept honest all the same.
Result<ScanResult> Classifier::scan(std::string_view, const ScanLimits&) const { return err("unavailable: built without Hyperscan"); }
Result<ScanResult> Classifier::scan_file(const std::string&, const ScanLimits&) const { return err("unavailable: built without Hyperscan"); }
Result<ScanResult> Classifier::scan_fd(int, const std::string&, const ScanLimits&) const { return err("unavailable: built without Hyperscan"); }
std::size_t Classifier::pattern_count() const { return 0; }

}  // namespace vigil
