#include "shared/framing.h"

namespace vigil {

std::string encode_frame(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

Result<std::optional<std::string>> FrameDecoder::next() {
  if (buffered() < 4) return std::optional<std::string>{};
  auto b = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  std::uint32_t n = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) |
                    (std::uint32_t(b[2]) << 8) | std::uint32_t(b[3]);
  if (n > max_)
    return err("frame of " + std::to_string(n) + " bytes exceeds the limit of " +
               std::to_string(max_));
  if (buffered() < 4 + std::size_t(n)) return std::optional<std::string>{};
  std::string frame = buf_.substr(pos_ + 4, n);
  pos_ += 4 + n;
  // Compact once the consumed prefix dominates, so the buffer stays bounded by ~2 frames.
  if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<std::string>{std::move(frame)};
}

}  // namespace vigil
