#include "shared/file_inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "shared/crypto.h"

namespace vigil {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<FileInspection> inspect_file(const std::string& path, const Classifier* classifier, const ScanLimits& limits) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOATIME)};
  if (f.fd < 0 && errno == EPERM) f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (f.fd < 0) return err("open \"" + path + "\": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return err("stat \"" + path + "\": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return err("\"" + path + "\" is not a regular file");
  FileInspection out;
  out.size = static_cast<std::uint64_t>(st.st_size);
  // Read what the limit allows, once; the digest, the type and the scan all use these bytes.
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size, limits.max_bytes));
  std::string buf(want, '\0');
  std::size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(f.fd, buf.data() + got, want - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err("read \"" + path + "\": " + std::strerror(errno));
    if (n == 0) break;  // shrank while we read
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  // More than the limit: was the file larger, or did it grow? One byte tells.
  char probe = 0;
  const bool whole = got < want || (got == out.size && ::pread(f.fd, &probe, 1, static_cast<off_t>(got)) == 0);
  std::string_view head(buf.data(), std::min(buf.size(), kSniffHeadBytes));
  out.content = sniff_content(head);
  if (out.content == ContentType::Zip) {
    if (whole) {
      out.content = sniff_content(head, std::string_view(buf).substr(buf.size() - std::min(buf.size(), kSniffTailBytes)));
    } else if (auto t = sniff_fd(f.fd, out.size); t) {
      out.content = *t;
    }
  }
  if (whole) out.sha256 = crypto::sha256_hex(buf);
  if (classifier != nullptr) {
    auto r = classifier->scan(buf, limits);
    if (!r) return err("scanning \"" + path + "\": " + r.error());
    out.scan = std::move(*r);
    if (!whole) out.scan.truncated = true;
    out.scanned = true;
  }
  return out;
}

}  // namespace vigil
