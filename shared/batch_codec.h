// zstd codec for event batches, with hard limits against decompression bombs.
// decode_batch() is the one place a received batch is turned back into events: it checks the
// decompressed size before allocating, the event count, and that seqs are contiguous and match
// the declared range.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil {

std::string zstd_compress(std::string_view raw, int level = 3);
// Fails if the frame is corrupt or would decompress beyond max_bytes (checked while streaming,
// so a frame that lies about its content size is caught too).
Result<std::string> zstd_decompress(std::string_view compressed, std::size_t max_bytes);

struct BatchLimits {
  std::size_t max_decompressed_bytes;
  std::size_t max_events;
};

// Serializes and compresses; sets nothing in the batch (caller fills seqs and device_id).
std::string encode_batch(const v1::EventBatch& batch);
Result<v1::EventBatch> decode_batch(std::string_view zstd_payload, const BatchLimits& limits);

}  // namespace vigil
