// inspect_file: one bounded read of a file gives its content type, its SHA-256 (when the whole
// file fit in the limit) and the classifier's findings. Used by the agent on files involved in
// exfiltration and archiving (docs/EXFILTRATION.md).
//
// Promises: reads at most limits.max_bytes (plus a zip's last kSniffTailBytes when the type needs
// it); regular files only (symlinks followed; FIFOs, devices and directories are errors, never a
// blocking read); O_NOATIME where permitted. A file larger than max_bytes is scanned on its first
// max_bytes (scan.truncated) and gets no sha256 (a digest of a prefix would mislead). classifier
// null: no scan (scanned false). Errors are values (vanished, unreadable).
#pragma once
#include <cstdint>
#include <string>

#include "shared/classifier.h"
#include "shared/content_type.h"
#include "shared/result.h"

namespace vigil {

struct FileInspection {
  ContentType content = ContentType::Unknown;
  std::uint64_t size = 0;
  std::string sha256;  // hex; empty when the file was larger than the limit
  bool scanned = false;
  ScanResult scan;
};

Result<FileInspection> inspect_file(const std::string& path, const Classifier* classifier, const ScanLimits& limits);

}  // namespace vigil
