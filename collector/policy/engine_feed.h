// EngineFeed: hands committed batches to the PolicyEngine on its own thread, so the ingest ack
// path only pays for a queue push. Batches are evaluated in the order they were committed;
// an alert exists well within 5 s of the commit unless the engine is far behind (a warning is
// logged when the backlog passes max_queued_events; nothing is dropped).
#pragma once
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector/policy/engine.h"

namespace vigil::collector::policy {

class EngineFeed {
 public:
  explicit EngineFeed(PolicyEngine& engine, std::size_t max_queued_events = 2'000'000);
  ~EngineFeed();
  void push(std::string device_id, std::shared_ptr<const v1::EventBatch> batch);
  // Waits until everything pushed so far was evaluated (tests, shutdown).
  void drain();
  void stop();

 private:
  void run();
  PolicyEngine& engine_;
  std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::pair<std::string, std::shared_ptr<const v1::EventBatch>>> queue_;
  std::size_t queued_events_ = 0;
  bool busy_ = false, stopping_ = false, warned_ = false;
  std::thread thread_;
};

}  // namespace vigil::collector::policy
