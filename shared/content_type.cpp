#include "shared/content_type.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace vigil {

namespace {

bool starts(std::string_view s, std::string_view magic, std::size_t at = 0) {
  return s.size() >= at + magic.size() && s.compare(at, magic.size(), magic) == 0;
}

using namespace std::string_view_literals;

// Valid UTF-8 with no NUL and few control characters. A multi-byte sequence cut by the end of
// the head is fine (the head is a prefix of the file).
bool looks_like_text(std::string_view s) {
  if (s.empty()) return false;
  if (starts(s, "\xEF\xBB\xBF"sv) || starts(s, "\xFF\xFE"sv) || starts(s, "\xFE\xFF"sv)) return true;  // BOMs
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0, controls = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == 0) return false;
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b && c != '\b') ++controls;
      if (c == 0x7f) ++controls;
      ++i;
      continue;
    }
    std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || (len == 2 && c < 0xc2)) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if (i + k >= n) return true;  // cut by the end of the head
      if ((p[i + k] & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return controls * 100 <= n;  // at most 1% stray control characters
}

bool looks_binary(std::string_view s) {
  if (s.empty()) return false;
  if (s.find('\0') != std::string_view::npos) return true;
  std::size_t controls = 0;
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b) || c == 0x7f) ++controls;
  return controls * 10 > s.size();  // more than 10%: not text in any 8-bit encoding
}

ContentType zip_kind(std::string_view head, std::string_view tail) {
  // ODF: the first entry is an uncompressed "mimetype" (name at 30, content right after).
  if (starts(head, "mimetype"sv, 30) && starts(head, "application/vnd.oasis.opendocument."sv, 38)) return ContentType::Odf;
  constexpr auto kTypes = "[Content_Types].xml"sv;
  if (head.find(kTypes) != std::string_view::npos || tail.find(kTypes) != std::string_view::npos) return ContentType::Ooxml;
  return ContentType::Zip;
}

}  // namespace

std::string_view to_string(ContentType t) {
  switch (t) {
    case ContentType::Unknown: return "unknown";
    case ContentType::Text: return "text";
    case ContentType::Binary: return "binary";
    case ContentType::Pdf: return "pdf";
    case ContentType::Zip: return "zip";
    case ContentType::Ooxml: return "ooxml";
    case ContentType::Odf: return "odf";
    case ContentType::Ole2: return "ole2";
    case ContentType::SevenZip: return "7z";
    case ContentType::Rar: return "rar";
    case ContentType::Gzip: return "gzip";
    case ContentType::Bzip2: return "bzip2";
    case ContentType::Xz: return "xz";
    case ContentType::Zstd: return "zstd";
    case ContentType::Lz4: return "lz4";
    case ContentType::Cab: return "cab";
    case ContentType::Tar: return "tar";
    case ContentType::Png: return "png";
    case ContentType::Jpeg: return "jpeg";
    case ContentType::Gif: return "gif";
    case ContentType::Elf: return "elf";
  }
  return "unknown";
}

bool is_archive(ContentType t) {
  switch (t) {
    case ContentType::Zip: case ContentType::SevenZip: case ContentType::Rar: case ContentType::Tar:
    case ContentType::Gzip: case ContentType::Bzip2: case ContentType::Xz: case ContentType::Zstd:
    case ContentType::Lz4: case ContentType::Cab:
      return true;
    default:
      return false;
  }
}

ContentType sniff_content(std::string_view head, std::string_view tail) {
  if (starts(head, "PK\x03\x04"sv) || starts(head, "PK\x05\x06"sv) || starts(head, "PK\x07\x08"sv)) return zip_kind(head, tail);
  if (starts(head, "7z\xBC\xAF\x27\x1C"sv)) return ContentType::SevenZip;
  if (starts(head, "Rar!\x1A\x07\x00"sv) || starts(head, "Rar!\x1A\x07\x01\x00"sv)) return ContentType::Rar;
  if (starts(head, "\x1F\x8B\x08"sv)) return ContentType::Gzip;
  if (starts(head, "BZh"sv) && head.size() > 3 && head[3] >= '1' && head[3] <= '9') return ContentType::Bzip2;
  if (starts(head, "\xFD" "7zXZ\x00"sv)) return ContentType::Xz;
  if (starts(head, "\x28\xB5\x2F\xFD"sv)) return ContentType::Zstd;
  if (starts(head, "\x04\x22\x4D\x18"sv)) return ContentType::Lz4;
  if (starts(head, "MSCF\0\0\0\0"sv)) return ContentType::Cab;
  if (starts(head, "\x89PNG\r\n\x1A\n"sv)) return ContentType::Png;
  if (starts(head, "\xFF\xD8\xFF"sv)) return ContentType::Jpeg;
  if (starts(head, "GIF87a"sv) || starts(head, "GIF89a"sv)) return ContentType::Gif;
  if (starts(head, "\x7F" "ELF"sv)) return ContentType::Elf;
  if (starts(head, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"sv)) return ContentType::Ole2;
  if (starts(head, "ustar\0"sv, 257) || starts(head, "ustar  \0"sv, 257)) return ContentType::Tar;
  // PDF readers accept the header anywhere in the first 1 KiB.
  if (head.substr(0, 1024).find("%PDF-") != std::string_view::npos) return ContentType::Pdf;
  if (looks_like_text(head)) return ContentType::Text;
  if (looks_binary(head)) return ContentType::Binary;
  return ContentType::Unknown;
}

Result<ContentType> sniff_fd(int fd, std::size_t size) {
  std::string head(std::min(size, kSniffHeadBytes), '\0');
  auto read_at = [fd](std::string& into, off_t at) -> bool {
    std::size_t got = 0;
    while (got < into.size()) {
      ssize_t n = ::pread(fd, into.data() + got, into.size() - got, at + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (n == 0) break;  // shrank meanwhile
      got += static_cast<std::size_t>(n);
    }
    into.resize(got);
    return true;
  };
  if (!read_at(head, 0)) return err(std::string("read: ") + std::strerror(errno));
  std::string tail;
  if (size > head.size() && starts(head, "PK"sv) && sniff_content(head) == ContentType::Zip) {
    std::size_t n = std::min(size - head.size(), kSniffTailBytes);
    tail.assign(n, '\0');
    if (!read_at(tail, static_cast<off_t>(size - n))) tail.clear();
  }
  return sniff_content(head, tail);
}

Result<ContentType> sniff_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return err("open \"" + path + "\": " + std::strerror(errno));
  struct stat st {};
  Result<ContentType> r = err("\"" + path + "\" is not a regular file");
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) r = sniff_fd(fd, static_cast<std::size_t>(st.st_size));
  ::close(fd);
  return r;
}

ContentType extension_type(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size() || name.size() - dot > 8) return ContentType::Unknown;
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  struct Entry { std::string_view ext; ContentType type; };
  static constexpr std::array kTable{
      Entry{"txt", ContentType::Text}, Entry{"text", ContentType::Text}, Entry{"csv", ContentType::Text},
      Entry{"tsv", ContentType::Text}, Entry{"log", ContentType::Text}, Entry{"md", ContentType::Text},
      Entry{"json", ContentType::Text}, Entry{"xml", ContentType::Text}, Entry{"yaml", ContentType::Text},
      Entry{"yml", ContentType::Text}, Entry{"ini", ContentType::Text}, Entry{"conf", ContentType::Text},
      Entry{"cfg", ContentType::Text}, Entry{"toml", ContentType::Text}, Entry{"html", ContentType::Text},
      Entry{"htm", ContentType::Text}, Entry{"sql", ContentType::Text}, Entry{"sh", ContentType::Text},
      Entry{"py", ContentType::Text}, Entry{"c", ContentType::Text}, Entry{"h", ContentType::Text},
      Entry{"cpp", ContentType::Text}, Entry{"java", ContentType::Text}, Entry{"js", ContentType::Text},
      Entry{"rtf", ContentType::Text}, Entry{"eml", ContentType::Text}, Entry{"pem", ContentType::Text},
      Entry{"pdf", ContentType::Pdf},
      Entry{"zip", ContentType::Zip}, Entry{"jar", ContentType::Zip},
      Entry{"docx", ContentType::Ooxml}, Entry{"xlsx", ContentType::Ooxml}, Entry{"pptx", ContentType::Ooxml},
      Entry{"docm", ContentType::Ooxml}, Entry{"xlsm", ContentType::Ooxml}, Entry{"pptm", ContentType::Ooxml},
      Entry{"odt", ContentType::Odf}, Entry{"ods", ContentType::Odf}, Entry{"odp", ContentType::Odf},
      Entry{"doc", ContentType::Ole2}, Entry{"xls", ContentType::Ole2}, Entry{"ppt", ContentType::Ole2},
      Entry{"msi", ContentType::Ole2},
      Entry{"7z", ContentType::SevenZip}, Entry{"rar", ContentType::Rar},
      Entry{"gz", ContentType::Gzip}, Entry{"tgz", ContentType::Gzip},
      Entry{"bz2", ContentType::Bzip2}, Entry{"tbz2", ContentType::Bzip2}, Entry{"tbz", ContentType::Bzip2},
      Entry{"xz", ContentType::Xz}, Entry{"txz", ContentType::Xz},
      Entry{"zst", ContentType::Zstd}, Entry{"tzst", ContentType::Zstd}, Entry{"lz4", ContentType::Lz4},
      Entry{"cab", ContentType::Cab}, Entry{"tar", ContentType::Tar},
      Entry{"png", ContentType::Png}, Entry{"jpg", ContentType::Jpeg}, Entry{"jpeg", ContentType::Jpeg},
      Entry{"jpe", ContentType::Jpeg}, Entry{"gif", ContentType::Gif}, Entry{"so", ContentType::Elf},
  };
  for (const auto& e : kTable)
    if (e.ext == ext) return e.type;
  return ContentType::Unknown;
}

bool is_mismatch(ContentType content, ContentType claimed) {
  if (content == ContentType::Unknown || claimed == ContentType::Unknown || content == claimed) return false;
  if (claimed == ContentType::Text) return true;           // a text-like name on anything else
  if (content == ContentType::Binary) return false;        // untyped: cannot say it is wrong
  if (claimed == ContentType::Zip && (content == ContentType::Ooxml || content == ContentType::Odf)) return false;
  return true;
}

}  // namespace vigil
