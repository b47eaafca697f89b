// DirectoryWatchSource: file activity on Windows from ReadDirectoryChangesW, one overlapped watch
// per root (the watch paths, or every fixed and removable drive when none are given), subtrees
// included, on one worker thread.
// What it promises:
// - Create / Write / Delete / Rename (old and new path paired) with absolute paths in generic
//   form (C:/Users/alice/report.docx: the agent's path logic splits on '/'), UTF-8; size, mtime and is_dir read when the activity is drained
//   by the worker (absent for a file already gone).
// - A buffer overrun (the system says it dropped changes: a zero-length completion) is counted in
//   DrainStats::overflows, never hidden.
// - What the API cannot say it does not invent: ReadDirectoryChangesW names no process, so
//   ProcessInfo is empty (pid 0, see docs/WINDOWS.md: ETW's kernel file provider is the planned
//   source for it), and reads (report_reads) are not reported.
// - exclude_paths (prefixes, either separator, case-insensitive as NTFS is) are never reported.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

class DirectoryWatchSource final : public agent::FileActivitySource {
 public:
  DirectoryWatchSource();
  ~DirectoryWatchSource() override;
  Status start(const agent::CaptureSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::FileActivity&&)>& sink) override;

  // The roots watched when CaptureSpec::watch_paths is empty: fixed and removable drives.
  static std::vector<std::string> default_roots();

 private:
  struct Root;
  void run();
  bool arm(Root& r);
  void parse(Root& r, DWORD bytes);
  bool excluded(const std::string& path) const;

  std::vector<std::unique_ptr<Root>> roots_;
  std::vector<std::string> exclude_;
  RecordQueue<agent::FileActivity> queue_;
  UniqueHandle stop_;
  std::thread worker_;
};

}  // namespace vigil::win
