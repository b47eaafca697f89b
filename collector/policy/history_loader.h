// Primes a fresh PolicyEngine with the activity already in the event store (the last `days`
// days, newest first, at most max_events), so baselines, usual hours and peers exist from the
// first batch even when the engine's own state is new (first start after an upgrade, a lost
// state). Only counts: nothing is scored or alerted from history.
#pragma once
#include <cstdint>

#include "collector/policy/engine.h"
#include "collector/store/event_store.h"
#include "shared/result.h"

namespace vigil::collector::policy {

// Returns how many events were counted.
Result<std::size_t> prime_from_store(PolicyEngine& engine, EventStore& store, std::int64_t now_ns, std::uint32_t days,
                                     std::size_t max_events);

}  // namespace vigil::collector::policy
