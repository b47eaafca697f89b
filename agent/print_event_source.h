// PrintEventSource: the platform's PrintActivitySource adapted to schema events. Each finished
// print job becomes one "print.job" event with a PrintBody; Event.user is the user the print
// system recorded (job-originating-user-name). The print system does not give a login uid, so
// login_uid is unset (4294967295) and no process is attached.
// Strings the print server sent (titles, user and printer names) that are not valid UTF-8 are
// kept with \xNN escapes (escape_non_utf8), so hostile titles stay readable and reversible.
// Classification: when a classifier is set and the spooled document is readable, it is scanned
// within ScanLimits and PrintBody.classification says what was found (status scanned | truncated
// | timed_out | unreadable). Without a classifier, or without a readable spooled document,
// classification is left unset. The scan runs on the caller's thread (the agent's loop), bounded
// by ScanLimits::max_time.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "agent/capture.h"
#include "agent/event_source.h"
#include "shared/classifier.h"
#include "vigil.pb.h"

namespace vigil::agent {

// The event for one finished job (no seq: the spool assigns it). `classification`, when given,
// is attached as PrintBody.classification.
v1::Event make_print_event(const PrintActivity& activity, const v1::Classification* classification = nullptr);

// ScanResult (or the error of a scan) as the schema's Classification.
v1::Classification to_classification(const Result<ScanResult>& scan);

class PrintEventSource final : public EventSource {
 public:
  PrintEventSource(std::unique_ptr<PrintActivitySource> source, PrintCaptureSpec spec,
                   std::shared_ptr<const Classifier> classifier = nullptr, ScanLimits limits = {});
  std::string name() const override { return "print"; }
  Status start() override;
  int pollable_fd() const override;
  Result<DrainStats> drain(std::vector<v1::Event>& out) override;
  // New classification rules (collection config); nullptr stops classifying.
  void set_classifier(std::shared_ptr<const Classifier> classifier, ScanLimits limits) override;

 private:
  std::unique_ptr<PrintActivitySource> source_;
  PrintCaptureSpec spec_;
  std::shared_ptr<const Classifier> classifier_;
  ScanLimits limits_;
};

}  // namespace vigil::agent
