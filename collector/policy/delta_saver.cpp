#include "collector/policy/delta_saver.h"

#include <iterator>

#include "shared/log.h"

namespace vigil::collector::policy {

namespace {

template <typename T>
void append(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty()) {
    to.swap(from);
    return;
  }
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

DeltaSaver::DeltaSaver(AlertStore& store) : store_(store), thread_([this] { run(); }) {}

DeltaSaver::~DeltaSaver() {
  drain();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeltaSaver::submit(EngineDelta delta) {
  if (delta.empty()) return;
  {
    std::lock_guard lock(mu_);
    append(waiting_.alerts, delta.alerts);
    append(waiting_.scopes, delta.scopes);
    append(waiting_.counts, delta.counts);
  }
  cv_.notify_all();
}

void DeltaSaver::wait_for_room() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !saving_ || waiting_.empty(); });
}

void DeltaSaver::drain() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !saving_ && waiting_.empty(); });
}

void DeltaSaver::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stop_ and nothing left
    EngineDelta delta = std::move(waiting_);
    waiting_ = {};
    saving_ = true;
    lock.unlock();
    if (auto s = store_.save(delta); !s) log::error("policy", "saving engine state failed", {{"error", s.error()}});
    lock.lock();
    saving_ = false;
    cv_.notify_all();
  }
}

}  // namespace vigil::collector::policy
