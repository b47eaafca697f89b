#include "shared/batch_codec.h"

#include <zstd.h>

#include <memory>

namespace vigil {

std::string zstd_compress(std::string_view raw, int level) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  // ZSTD_compress only fails on a too-small destination, which compressBound rules out.
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

Result<std::string> zstd_decompress(std::string_view compressed, std::size_t max_bytes) {
  unsigned long long declared = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return err("payload is not a zstd frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_bytes)
    return err("payload declares " + std::to_string(declared) +
               " bytes decompressed, above the limit of " + std::to_string(max_bytes));
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> ds(ZSTD_createDStream(),
                                                                 &ZSTD_freeDStream);
  ZSTD_initDStream(ds.get());
  std::string out;
  out.reserve(declared != ZSTD_CONTENTSIZE_UNKNOWN ? declared : compressed.size() * 4);
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  char chunk[65536];
  size_t ret = 1;
  while (in.pos < in.size || ret != 0) {
    ZSTD_outBuffer ob{chunk, sizeof chunk, 0};
    ret = ZSTD_decompressStream(ds.get(), &ob, &in);
    if (ZSTD_isError(ret)) return err(std::string("corrupt zstd payload: ") + ZSTD_getErrorName(ret));
    if (out.size() + ob.pos > max_bytes)
      return err("payload decompresses beyond the limit of " + std::to_string(max_bytes) + " bytes");
    out.append(chunk, ob.pos);
    if (in.pos == in.size && ob.pos == 0 && ret != 0) return err("truncated zstd payload");
  }
  return out;
}

std::string encode_batch(const v1::EventBatch& batch) {
  return zstd_compress(batch.SerializeAsString());
}

Result<v1::EventBatch> decode_batch(std::string_view zstd_payload, const BatchLimits& limits) {
  auto raw = zstd_decompress(zstd_payload, limits.max_decompressed_bytes);
  if (!raw) return err(raw.error());
  v1::EventBatch batch;
  if (!batch.ParseFromString(*raw)) return err("batch payload is not a valid EventBatch");
  if (static_cast<std::size_t>(batch.events_size()) > limits.max_events)
    return err("batch holds " + std::to_string(batch.events_size()) + " events, above the limit of " +
               std::to_string(limits.max_events));
  if (batch.events_size() == 0) return err("batch holds no events");
  if (batch.first_seq() == 0 || batch.last_seq() < batch.first_seq() ||
      batch.last_seq() - batch.first_seq() + 1 != static_cast<std::uint64_t>(batch.events_size()))
    return err("batch seq range " + std::to_string(batch.first_seq()) + ".." +
               std::to_string(batch.last_seq()) + " does not match its " +
               std::to_string(batch.events_size()) + " events");
  for (int i = 0; i < batch.events_size(); ++i) {
    const auto& e = batch.events(i);
    if (e.seq() != batch.first_seq() + static_cast<std::uint64_t>(i))
      return err("event " + std::to_string(i) + " has seq " + std::to_string(e.seq()) +
                 ", expected " + std::to_string(batch.first_seq() + i));
    if (e.type().empty() || e.type().size() > 64) return err("event " + std::to_string(i) + " has an invalid type");
  }
  return batch;
}

}  // namespace vigil
