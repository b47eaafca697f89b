// Hard limits both sides enforce on the wire. A peer that exceeds one is refused, not trusted.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vigil::limits {
// 2: the agent understands CollectionConfig. The collector pushes collection configs only to
// agents whose Hello says at least kConfigPushProtocolVersion: an older agent would close the
// connection on the unknown message and reconnect forever.
inline constexpr std::uint32_t kProtocolVersion = 2;
inline constexpr std::uint32_t kConfigPushProtocolVersion = 2;
inline constexpr std::size_t kMaxFrameBytes = 8u << 20;          // one wire frame
inline constexpr std::size_t kMaxDecompressedBytes = 32u << 20;  // one batch after zstd
inline constexpr std::size_t kMaxBatchEvents = 10000;            // events in one batch
inline constexpr std::uint32_t kMaxInFlight = 16;                // batches sent before an ack
}  // namespace vigil::limits
