// DropDirImporter: the HR connector's watched directories. CSV files dropped into the HR
// directory (default DATA_DIR/import/hr) or the attributes directory (DATA_DIR/import/attributes)
// are imported like POST /api/v1/hr/import and /api/v1/users/attributes/import, then moved:
//   done/NAME                  every row imported
//   failed/NAME + failed/NAME.errors.txt
//                              some rows rejected (the good ones ARE imported; the report says
//                              which lines and why) or the whole file refused (nothing imported)
// docs/HR_IMPORT.md describes it.
//
// Promises:
// - Polls (every `poll`); only regular files named *.csv (not hidden) whose last change is at
//   least `settle` old are taken, in name order, so a file still being written is left alone
//   (writers should still write elsewhere and rename into place).
// - A file is never imported twice by the watcher: it leaves the directory whatever happened;
//   a name already in done/ or failed/ gets a time suffix instead of overwriting.
// - One log line per file (info when clean, warn otherwise). The thread stops with stop() or
//   the destructor, within one poll.
#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector/policy/policy_store.h"
#include "shared/result.h"

namespace vigil::collector::policy {

struct DropDirOptions {
  std::string hr_dir;
  std::string attributes_dir;
  std::chrono::milliseconds poll{5000};
  std::chrono::milliseconds settle{1000};
};

class DropDirImporter {
 public:
  DropDirImporter(std::shared_ptr<SqlitePolicyStore> store, DropDirOptions options);
  ~DropDirImporter();
  DropDirImporter(const DropDirImporter&) = delete;
  DropDirImporter& operator=(const DropDirImporter&) = delete;

  // Creates the directories (with done/ and failed/) and starts polling.
  Status start();
  void stop();
  // One pass over both directories on the calling thread; returns how many files it handled.
  std::size_t scan_once();

 private:
  std::size_t scan_dir(const std::string& dir, bool hr);
  std::shared_ptr<SqlitePolicyStore> store_;
  DropDirOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vigil::collector::policy
