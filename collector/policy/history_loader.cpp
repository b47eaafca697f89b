#include "collector/policy/history_loader.h"

#include <algorithm>

namespace vigil::collector::policy {

Result<std::size_t> prime_from_store(PolicyEngine& engine, EventStore& store, std::int64_t now_ns, std::uint32_t days,
                                     std::size_t max_events) {
  constexpr std::size_t kPage = 50'000;
  const std::int64_t since = now_ns - static_cast<std::int64_t>(days) * 86400LL * 1'000'000'000;
  std::int64_t until = now_ns + 1;
  std::size_t total = 0;
  // Pages walk backwards in time (the store returns the newest matches); the engine's counters
  // do not care about order.
  while (total < max_events) {
    EventQuery q;
    q.since_ns = since;
    q.until_ns = until;
    q.limit = std::min(kPage, max_events - total);
    auto page = store.query_events(q);
    if (!page) return err("reading history for the policy engine: " + page.error());
    if (page->empty()) break;
    std::vector<v1::Event> events;
    events.reserve(page->size());
    std::int64_t oldest = until;
    for (auto& e : *page) {
      oldest = std::min(oldest, e.event.time_ns());
      events.push_back(std::move(e.event));
    }
    engine.prime_history(events);
    total += events.size();
    if (page->size() < q.limit || oldest >= until) break;
    until = oldest;  // events sharing that exact nanosecond beyond the page are skipped
  }
  return total;
}

}  // namespace vigil::collector::policy
