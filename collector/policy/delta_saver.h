// DeltaSaver: writes the policy engine's changed state to its AlertStore on a thread of its own,
// so scoring never waits for SQLite's commit.
//
// Promises:
// - Deltas are saved in the order they were submitted; deltas submitted while a save runs are
//   merged into one (rows are whole values, later rows win) and saved in the next transaction.
// - submit() never blocks on a save. wait_for_room() blocks while a save runs and another delta
//   already waits — the engine calls it before taking its own lock, so a store slower than the
//   engine slows the engine down instead of growing memory without bound.
// - drain() returns when everything submitted before it is saved (or failed: failures are
//   logged, like the engine's own saves were). The destructor drains.
#pragma once
#include <condition_variable>
#include <mutex>
#include <thread>

#include "collector/policy/alert_store.h"

namespace vigil::collector::policy {

class DeltaSaver {
 public:
  explicit DeltaSaver(AlertStore& store);
  ~DeltaSaver();
  DeltaSaver(const DeltaSaver&) = delete;
  DeltaSaver& operator=(const DeltaSaver&) = delete;

  void submit(EngineDelta delta);
  void wait_for_room();
  void drain();

 private:
  void run();

  AlertStore& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  EngineDelta waiting_;
  bool saving_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace vigil::collector::policy
