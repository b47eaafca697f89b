#include "agent/print_event_source.h"

#include "agent/event_builder.h"
#include "shared/log.h"

namespace vigil::agent {

namespace {
constexpr std::uint32_t kNoLoginUid = 0xffffffffu;
}

v1::Classification to_classification(const Result<ScanResult>& scan) {
  v1::Classification c;
  if (!scan) {
    c.set_status("unreadable");
    c.set_detail(escape_non_utf8(scan.error()));
    return c;
  }
  c.set_status(scan->timed_out ? "timed_out" : scan->truncated ? "truncated" : "scanned");
  c.set_bytes_scanned(scan->bytes_scanned);
  for (const auto& f : scan->findings) {
    auto* out = c.add_findings();
    out->set_type(f.type_id);
    out->set_count(f.count);
    out->set_confidence(std::string(to_string(f.confidence)));
  }
  return c;
}

v1::Event make_print_event(const PrintActivity& a, const v1::Classification* classification) {
  v1::Event e;
  e.set_time_ns(a.time_ns);
  e.set_type("print.job");
  e.set_login_uid(kNoLoginUid);
  e.set_user(escape_non_utf8(a.job_user));
  auto* p = e.mutable_print();
  p->set_printer(escape_non_utf8(a.printer));
  p->set_title(escape_non_utf8(a.title));
  p->set_pages(a.pages);
  p->set_copies(a.copies);
  p->set_bytes(a.bytes);
  p->set_job_id(a.job_id);
  p->set_state(escape_non_utf8(a.state));
  p->set_job_user(escape_non_utf8(a.job_user));
  p->set_origin_host(escape_non_utf8(a.origin_host));
  p->set_document_format(escape_non_utf8(a.document_format));
  p->set_printer_uri(escape_non_utf8(a.printer_uri));
  p->set_created_ns(a.created_ns);
  p->set_completed_ns(a.completed_ns);
  p->set_state_reasons(escape_non_utf8(a.state_reasons));
  p->set_server(escape_non_utf8(a.server));
  if (classification) *p->mutable_classification() = *classification;
  return e;
}

PrintEventSource::PrintEventSource(std::unique_ptr<PrintActivitySource> source, PrintCaptureSpec spec,
                                   std::shared_ptr<const Classifier> classifier, ScanLimits limits)
    : source_(std::move(source)), spec_(std::move(spec)), classifier_(std::move(classifier)), limits_(limits) {}

Status PrintEventSource::start() {
  if (!source_) return err("no print capture on this platform");
  return source_->start(spec_);
}

int PrintEventSource::pollable_fd() const { return source_ ? source_->pollable_fd() : -1; }

void PrintEventSource::set_classifier(std::shared_ptr<const Classifier> classifier, ScanLimits limits) {
  classifier_ = std::move(classifier);
  limits_ = limits;
}

Result<DrainStats> PrintEventSource::drain(std::vector<v1::Event>& out) {
  return source_->drain([&](PrintActivity&& a) {
    if (classifier_ && !a.document_path.empty()) {
      v1::Classification c = to_classification(classifier_->scan_file(a.document_path, limits_));
      out.push_back(make_print_event(a, &c));
    } else {
      out.push_back(make_print_event(a));
    }
  });
}

}  // namespace vigil::agent
