// Content typing: what a file is by its bytes (magic numbers in the first few KiB), what its name's
// extension claims it is, and whether the two disagree (a PDF renamed .txt). Used by the agent to
// derive file.archive_created and file.extension_mismatch (docs/EXFILTRATION.md).
//
// What it promises:
// - sniff_content() never fails and never reads past what it is given: any bytes are safe input.
//   Recognised: pdf ("%PDF-" in the first 1 KiB), zip (local/empty/spanned headers), ooxml (a zip
//   naming "[Content_Types].xml" in the head or in the tail, where the central directory is), odf
//   (a zip whose first entry is "mimetype" = application/vnd.oasis.opendocument.*), ole2 (legacy
//   .doc/.xls/.msi), 7z, rar (4 and 5), gzip, bzip2, xz, zstd, lz4 (frame), cab, tar (ustar magic
//   at offset 257, POSIX and GNU), png, jpeg, gif, elf; text (no NUL, valid UTF-8 - a sequence cut
//   by the end of the head is allowed - few control characters, or a UTF-16/32 byte-order mark);
//   binary (a NUL byte or many control characters, and no magic we know); unknown otherwise
//   (empty files, Latin-1 text, ...).
// - extension_type() looks only at the last extension, case-insensitively (".tgz" is gzip, so is
//   "x.tar.gz"); unknown extensions (and names without one) are Unknown.
// - is_mismatch(): unknown on either side says nothing; equal says nothing; a zip-based office
//   document named .zip says nothing (it is one); text-like names on anything but text (binary
//   included) is a mismatch; any other disagreement between two known types is one. Binary
//   content is only a mismatch under a text-like name (it is untyped, not necessarily wrong).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "shared/result.h"

namespace vigil {

enum class ContentType {
  Unknown, Text, Binary, Pdf, Zip, Ooxml, Odf, Ole2, SevenZip, Rar, Gzip, Bzip2, Xz, Zstd, Lz4, Cab, Tar,
  Png, Jpeg, Gif, Elf
};

// How much of the head sniff_file() reads, and how much of the tail for a zip's central directory.
inline constexpr std::size_t kSniffHeadBytes = 8192;
inline constexpr std::size_t kSniffTailBytes = 65536;

// "pdf", "zip", "ooxml", "7z", "tar", "text", "binary", "unknown", ...
std::string_view to_string(ContentType t);
// An archive or compressed stream: zip, 7z, rar, tar, gzip, bzip2, xz, zstd, lz4, cab. Office
// documents (ooxml, odf) are zips by construction but not archives a person made.
bool is_archive(ContentType t);

// head: the first bytes of the file (kSniffHeadBytes is plenty); tail: its last bytes, only
// looked at for a zip that may be an office document (may be empty).
ContentType sniff_content(std::string_view head, std::string_view tail = {});
// Opens path (regular files only, symlinks followed), reads the head and, for a zip, the tail.
Result<ContentType> sniff_file(const std::string& path);
// Same on an open regular file (pread: fd's offset is untouched). size: the file's size.
Result<ContentType> sniff_fd(int fd, std::size_t size);

// What the name's last extension claims; Text for text-like ones (.txt .csv .log .md .json ...).
ContentType extension_type(std::string_view path);
bool is_mismatch(ContentType content, ContentType claimed);

}  // namespace vigil
