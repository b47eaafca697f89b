// SpoolerPrintSource: print jobs on Windows from the print spooler's own change notifications
// (FindFirstPrinterChangeNotification on the print server, job fields requested with it), not
// from event logs. The worker keeps what it has heard of each job and reports it once, when the
// job reaches a final state:
//   completed  the spooler says printed (JOB_STATUS_PRINTED / COMPLETE)
//   aborted    deleted while in error (JOB_STATUS_ERROR)
//   canceled   deleted before it printed
// PrintCaptureSpec::server: "" is this machine's spooler, "\\host" another print server.
// When the spooler says it discarded notifications (PRINTER_NOTIFY_INFO_DISCARDED) the worker
// asks for a full refresh and counts the loss in DrainStats::overflows.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

// What the spooler has said about one job so far (fields arrive piecemeal).
struct SpoolerJob {
  std::string printer, document, user, machine, datatype;
  std::uint32_t status = 0, total_pages = 0, pages_printed = 0, copies = 0;
  std::uint64_t total_bytes = 0;
  std::int64_t submitted_ns = 0;
  bool reported = false;
};

// The final state a job's status bits mean, or "" while it is not final.
std::string final_job_state(std::uint32_t status);
// The PrintActivity for a job that reached `state`.
agent::PrintActivity print_activity_from(std::uint32_t job_id, const SpoolerJob& job, const std::string& state,
                                         const std::string& server);

class SpoolerPrintSource final : public agent::PrintActivitySource {
 public:
  SpoolerPrintSource() = default;
  ~SpoolerPrintSource() override;
  Status start(const agent::PrintCaptureSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::PrintActivity&&)>& sink) override;

 private:
  void run();
  void apply(void* info);  // PRINTER_NOTIFY_INFO*

  std::string server_;
  HANDLE printer_ = nullptr;  // ClosePrinter
  HANDLE change_ = INVALID_HANDLE_VALUE;  // FindClosePrinterChangeNotification
  UniqueHandle stop_;
  std::thread worker_;
  std::map<std::uint32_t, SpoolerJob> jobs_;
  RecordQueue<agent::PrintActivity> queue_;
};

}  // namespace vigil::win
