#include "platform/linux/process_history.h"

#include <algorithm>
#include <utility>

namespace vigil::platform {

ProcessHistory::ProcessHistory() : ProcessHistory(Limits{}) {}

ProcessHistory::ProcessHistory(Limits limits) : limits_(limits) {
  if (limits_.capacity == 0) limits_.capacity = 1;
  if (limits_.per_pid == 0) limits_.per_pid = 1;
}

void ProcessHistory::begin(pid_t pid, std::int64_t at_ns, std::uint64_t start_ticks, bool by_exec,
                           agent::ProcessInfo info, bool ids_known) {
  std::lock_guard lock(mu_);
  advance(at_ns);
  if (auto it = by_pid_.find(pid); it != by_pid_.end()) end_running(pid, it->second, at_ns, false);
  ProcessGeneration g;
  g.since_ns = at_ns;
  g.by_exec = by_exec;
  g.start_ticks = start_ticks;
  g.ids_known = ids_known;
  g.info = std::move(info);
  push(pid, std::move(g));
}

void ProcessHistory::learn(pid_t pid, std::int64_t at_ns, std::uint64_t start_ticks,
                           agent::ProcessInfo info) {
  std::lock_guard lock(mu_);
  advance(at_ns);
  ProcessGeneration g;
  if (auto it = by_pid_.find(pid); it != by_pid_.end() && !it->second.empty()) {
    if (!it->second.back().ended) return;
    // It began after its predecessor ended; exactly when is unknown.
    g.since_ns = it->second.back().ended_ns;
  }
  g.start_ticks = start_ticks;
  g.info = std::move(info);
  push(pid, std::move(g));
}

void ProcessHistory::set_uid(pid_t pid, std::uint32_t uid) {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(pid);
  if (it != by_pid_.end() && !it->second.empty() && !it->second.back().ended)
    it->second.back().info.uid = uid;
}

void ProcessHistory::exited(pid_t pid, std::int64_t at_ns) {
  std::lock_guard lock(mu_);
  advance(at_ns);
  if (auto it = by_pid_.find(pid); it != by_pid_.end()) end_running(pid, it->second, at_ns, true);
  expire();
}

std::optional<ProcessGeneration> ProcessHistory::running(pid_t pid) const {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end() || it->second.empty() || it->second.back().ended) return std::nullopt;
  return it->second.back();
}

ProcessHistory::Answer ProcessHistory::find(pid_t pid, std::int64_t queued_before_ns) const {
  std::lock_guard lock(mu_);
  Answer a;
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end() || it->second.empty()) return a;
  const Generations& gens = it->second;
  for (std::size_t i = gens.size(); i-- > 0;) {
    if (gens[i].since_ns <= queued_before_ns) {
      a.match = Match::Found;
      a.running = i + 1 == gens.size() && !gens[i].ended;
      a.gen = gens[i];
      return a;
    }
  }
  a.match = Match::Before;
  a.gen = gens.front();
  return a;
}

ProcessHistory::Stats ProcessHistory::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.generations = count_;
  s.pids = by_pid_.size();
  return s;
}

// --- private, mu_ held -------------------------------------------------------------------------

void ProcessHistory::advance(std::int64_t at_ns) { now_ns_ = std::max(now_ns_, at_ns); }

void ProcessHistory::end_running(pid_t pid, Generations& gens, std::int64_t at_ns, bool exited) {
  if (gens.empty() || gens.back().ended) return;
  ProcessGeneration& g = gens.back();
  g.ended = true;
  g.exited = exited;
  g.ended_ns = std::max(at_ns, g.since_ns);
  ended_.push_back(EndedRef{pid, g.serial, g.ended_ns});
}

void ProcessHistory::push(pid_t pid, ProcessGeneration gen) {
  make_room();
  Generations& gens = by_pid_[pid];
  if (gens.size() >= limits_.per_pid) {
    // Everything but the newest has ended: drop the oldest of this pid.
    gens.erase(gens.begin());
    --count_;
    ++stats_.evicted_in_grace;
  }
  gen.serial = next_serial_++;
  gens.push_back(std::move(gen));
  ++count_;
  if (ended_.size() > 2 * limits_.capacity) compact_ended();
}

void ProcessHistory::expire() {
  while (!ended_.empty() && ended_.front().ended_ns + limits_.grace_ns <= now_ns_) {
    if (erase(ended_.front())) ++stats_.expired;
    ended_.pop_front();
  }
}

void ProcessHistory::make_room() {
  expire();
  while (count_ >= limits_.capacity && !ended_.empty()) {
    if (erase(ended_.front())) ++stats_.evicted_in_grace;
    ended_.pop_front();
  }
  if (count_ >= limits_.capacity) evict_oldest_running();
}

bool ProcessHistory::erase(const EndedRef& ref) {
  auto it = by_pid_.find(ref.pid);
  if (it == by_pid_.end()) return false;
  Generations& gens = it->second;
  auto g = std::find_if(gens.begin(), gens.end(),
                        [&](const ProcessGeneration& x) { return x.serial == ref.serial; });
  if (g == gens.end()) return false;
  gens.erase(g);
  --count_;
  if (gens.empty()) by_pid_.erase(it);
  return true;
}

// Every generation is running (more live processes than capacity, or exits we never heard of):
// drop the oldest eighth at once so this O(n) pass stays rare.
void ProcessHistory::evict_oldest_running() {
  std::vector<std::pair<std::int64_t, pid_t>> running;
  running.reserve(by_pid_.size());
  for (const auto& [pid, gens] : by_pid_)
    if (!gens.empty() && !gens.back().ended) running.emplace_back(gens.back().since_ns, pid);
  const std::size_t n = std::min(running.size(), std::max<std::size_t>(1, limits_.capacity / 8));
  if (n == 0) return;
  std::nth_element(running.begin(), running.begin() + static_cast<std::ptrdiff_t>(n - 1), running.end());
  for (std::size_t i = 0; i < n; ++i) {
    auto it = by_pid_.find(running[i].second);
    it->second.pop_back();
    --count_;
    ++stats_.evicted_running;
    if (it->second.empty()) by_pid_.erase(it);
  }
}

// Refs to generations dropped by the per-pid limit linger in ended_ until their time comes; keep
// that bounded too.
void ProcessHistory::compact_ended() {
  std::deque<EndedRef> kept;
  for (const EndedRef& r : ended_) {
    auto it = by_pid_.find(r.pid);
    if (it == by_pid_.end()) continue;
    const bool live = std::any_of(it->second.begin(), it->second.end(),
                                  [&](const ProcessGeneration& g) { return g.serial == r.serial; });
    if (live) kept.push_back(r);
  }
  ended_.swap(kept);
}

}  // namespace vigil::platform
