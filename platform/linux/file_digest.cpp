#include "platform/linux/file_digest.h"

#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "platform/linux/unique_fd.h"

namespace vigil::platform {

namespace {
FileStamp to_stamp(const struct stat& st) {
  FileStamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  s.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
  return s;
}
}  // namespace

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return to_stamp(st);
}

std::optional<FileSnapshot> snapshot_file(const std::string& path, std::size_t keep_content_up_to) {
  // O_NONBLOCK: a FIFO planted under a watched directory must not hang the agent.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileSnapshot snap;
  snap.stamp = to_stamp(st);
  mbedtls_sha256_context ctx;
  mbedtls_sha256_init(&ctx);
  mbedtls_sha256_starts_ret(&ctx, 0);
  std::vector<unsigned char> buf(1 << 16);
  std::uint64_t total = 0;
  bool keep = true;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      mbedtls_sha256_free(&ctx);
      return std::nullopt;
    }
    if (n == 0) break;
    if (total == 0 && n >= 4 && buf[0] == 0x7f && buf[1] == 'E' && buf[2] == 'L' && buf[3] == 'F') snap.elf = true;
    mbedtls_sha256_update_ret(&ctx, buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
    if (keep) {
      if (total <= keep_content_up_to) snap.content.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(n));
      else {
        keep = false;
        snap.content.clear();
        snap.content.shrink_to_fit();
      }
    }
    if (total >= kMaxDigestBytes) break;
  }
  unsigned char out[32];
  mbedtls_sha256_finish_ret(&ctx, out);
  mbedtls_sha256_free(&ctx);
  static const char* hex = "0123456789abcdef";
  snap.digest.reserve(64);
  for (unsigned char c : out) {
    snap.digest.push_back(hex[c >> 4]);
    snap.digest.push_back(hex[c & 15]);
  }
  snap.size = total;
  snap.has_content = keep && keep_content_up_to > 0;
  return snap;
}

}  // namespace vigil::platform
