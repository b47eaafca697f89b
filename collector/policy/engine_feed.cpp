#include "collector/policy/engine_feed.h"

#include "shared/log.h"

namespace vigil::collector::policy {

EngineFeed::EngineFeed(PolicyEngine& engine, std::size_t max_queued_events)
    : engine_(engine), max_queued_(max_queued_events), thread_([this] { run(); }) {}

EngineFeed::~EngineFeed() { stop(); }

void EngineFeed::push(std::string device_id, std::shared_ptr<const v1::EventBatch> batch) {
  if (!batch) return;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  queued_events_ += static_cast<std::size_t>(batch->events_size());
  if (queued_events_ > max_queued_ && !warned_) {
    warned_ = true;
    log::warn("policy", "policy engine is behind ingest", {{"queued_events", std::to_string(queued_events_)}});
  }
  queue_.emplace_back(std::move(device_id), std::move(batch));
  cv_.notify_one();
}

void EngineFeed::drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || stopping_; });
}

void EngineFeed::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineFeed::run() {
  for (;;) {
    std::pair<std::string, std::shared_ptr<const v1::EventBatch>> item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping evaluates what was already committed first: those events are stored.
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      queued_events_ -= static_cast<std::size_t>(item.second->events_size());
      if (queued_events_ <= max_queued_ / 2) warned_ = false;
      busy_ = true;
    }
    engine_.on_batch(item.first, *item.second);
    bool idle;
    {
      std::lock_guard lock(mu_);
      idle = queue_.empty();
    }
    // Caught up: persist now rather than at the next save interval.
    if (idle) engine_.flush();
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    idle_cv_.notify_all();
  }
}

}  // namespace vigil::collector::policy
