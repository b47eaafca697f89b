// RecordQueue: the hand-over between a Windows capture source's worker thread and the agent's
// loop. The worker push()es records; the loop, woken through pollable_fd(), drain()s them in the
// order pushed. Bounded: past `capacity` records are counted as lost (DrainStats::overflows, which
// the agent reports as agent.loss), never dropped silently.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "agent/capture.h"
#include "platform/windows/wake_socket.h"

namespace vigil::win {

template <typename Record>
class RecordQueue {
 public:
  explicit RecordQueue(std::size_t capacity = 65536) : capacity_(capacity) {}
  Status open() { return wake_.open(); }
  int pollable_fd() const { return wake_.fd(); }

  void push(Record&& r) {
    {
      std::lock_guard lock(mu_);
      if (q_.size() >= capacity_) {
        ++lost_;
      } else {
        q_.push_back(std::move(r));
      }
    }
    wake_.signal();
  }
  void count_lost(std::uint64_t n) {
    {
      std::lock_guard lock(mu_);
      lost_ += n;
    }
    wake_.signal();
  }

  Result<agent::DrainStats> drain(const std::function<void(Record&&)>& sink) {
    wake_.clear();
    std::deque<Record> got;
    agent::DrainStats st;
    {
      std::lock_guard lock(mu_);
      got.swap(q_);
      st.overflows = lost_;
      lost_ = 0;
    }
    for (auto& r : got) {
      sink(std::move(r));
      ++st.activities;
    }
    return st;
  }

 private:
  std::size_t capacity_;
  std::mutex mu_;
  std::deque<Record> q_;
  std::uint64_t lost_ = 0;
  WakeSocket wake_;
};

}  // namespace vigil::win
