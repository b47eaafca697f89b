// Length-prefixed framing: 4-byte big-endian length, then the payload.
// FrameDecoder never buffers more than one frame's limit: a length above the limit is an error
// reported before any payload is read, so a hostile peer cannot make it allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil {

std::string encode_frame(std::string_view payload);

class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame_bytes) : max_(max_frame_bytes) {}
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete frame, nothing if more bytes are needed, or an error (the stream is then
  // unusable and the connection should be closed).
  Result<std::optional<std::string>> next();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t pos_ = 0;
};

}  // namespace vigil
