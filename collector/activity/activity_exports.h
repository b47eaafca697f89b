// Background exports of activity queries to files: DATA_DIR/exports/activity-<id>.csv|jsonl.
//
// Promises:
// - start() returns at once with the export's name; one worker thread per export pages through
//   the query (the same keyset paging the API uses, one read snapshot per page) and writes
//   `<name>.part`, renamed to `<name>` only when complete, so a file under the final name is
//   always whole. Progress (rows done / total) is visible while it runs.
// - Files are 0600 in a 0700 directory. A status record (`<name>.json`) is written next to the
//   finished file, so exports stay listed after a restart.
// - Names are checked by valid_name() before any path is built from them: only
//   activity-<32 hex>.csv|jsonl, so no name can leave the exports directory.
// - At most kMaxRunningExports run at once; the destructor stops and joins every worker.
#pragma once
#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "collector/activity/activity_rows.h"
#include "collector/store/event_store.h"

namespace vigil::collector {

inline constexpr std::size_t kMaxRunningExports = 2;
inline constexpr std::uint64_t kMaxExportRows = 5'000'000;

struct ExportStatus {
  std::string name;
  std::string owner;       // the caller who started it; only they may see or download it
  std::string format;      // csv | jsonl
  std::string state;       // running | done | failed
  std::string error;       // when failed
  std::string filters;     // what was asked, as text (for the listing and the audit log)
  std::uint64_t rows_done = 0;
  std::uint64_t rows_total = 0;
  std::uint64_t bytes = 0;
  std::int64_t created_ns = 0;
  std::int64_t finished_ns = 0;
};

class ActivityExports {
 public:
  // dir: where export files go (created 0700 when missing).
  static Result<std::unique_ptr<ActivityExports>> open(EventStore& store, std::string dir);
  ActivityExports(EventStore& store, std::string dir) : store_(store), dir_(std::move(dir)) {}
  ~ActivityExports();
  ActivityExports(const ActivityExports&) = delete;
  ActivityExports& operator=(const ActivityExports&) = delete;

  static bool valid_name(std::string_view name);

  // query.limit is ignored (pages of a fixed size); the total is counted first. Errors: too many
  // running, or more rows than kMaxExportRows (the caller should narrow the filters).
  // hide: applied to each event's JSON before it is written (auth: names in free text and paths
  // for a pseudonymised owner); null: nothing more than `shown`.
  using HideNames = std::function<void(boost::json::object& event, const std::string& user)>;
  Result<ExportStatus> start(ActivityQuery query, std::string format, std::string owner, std::string filters,
                             ShowUser shown, HideNames hide = {});
  std::optional<ExportStatus> status(const std::string& name) const;
  std::string path_of(const std::string& name) const { return dir_ + "/" + name; }

 private:
  struct Job {
    ExportStatus status;
    std::thread worker;
  };
  void run(Job* job, ActivityQuery query, ShowUser shown, HideNames hide);
  void update(Job* job, const std::function<void(ExportStatus&)>& change);

  EventStore& store_;
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
  std::atomic<bool> stopping_{false};
};

}  // namespace vigil::collector
