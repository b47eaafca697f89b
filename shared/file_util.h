// Whole-file reads and crash-safe writes (write to a temp file, fsync, rename), with the mode set
// before any content is written, so a secret is never readable by others even for an instant.
#pragma once
#include <string>

#include "shared/result.h"

namespace vigil {

Result<std::string> read_file(const std::string& path);
Status write_file_atomic(const std::string& path, const std::string& content, unsigned mode = 0644);
// Creates the directory (and parents) with the given mode if missing.
Status ensure_dir(const std::string& path, unsigned mode = 0700);
bool file_exists(const std::string& path);

}  // namespace vigil
