// Definitions behind platform/windows/compat/vigil_posix_compat.h (see the promises there).
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <bcrypt.h>
#include <errno.h>
#include <io.h>
#include <direct.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

extern "C" ssize_t getrandom(void* buf, size_t n, unsigned flags);

extern "C" ssize_t vigil_posix_pread(int fd, void* buf, size_t n, long long offset) {
  if (offset < 0) {
    errno = EINVAL;
    return -1;
  }
  const intptr_t osf = _get_osfhandle(fd);
  if (osf == -1) {
    errno = EBADF;
    return -1;
  }
  OVERLAPPED ov{};
  ov.Offset = static_cast<DWORD>(static_cast<unsigned long long>(offset) & 0xffffffffu);
  ov.OffsetHigh = static_cast<DWORD>(static_cast<unsigned long long>(offset) >> 32);
  DWORD got = 0;
  const DWORD want = n > 0x7fffffffu ? 0x7fffffffu : static_cast<DWORD>(n);
  if (!ReadFile(reinterpret_cast<HANDLE>(osf), buf, want, &got, &ov)) {
    const DWORD e = GetLastError();
    if (e == ERROR_HANDLE_EOF) return 0;
    errno = e == ERROR_ACCESS_DENIED ? EACCES : EIO;
    return -1;
  }
  return static_cast<ssize_t>(got);
}

extern "C" int vigil_posix_rename(const char* from, const char* to) {
  if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return 0;
  const DWORD e = GetLastError();
  errno = e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? ENOENT
          : e == ERROR_ACCESS_DENIED || e == ERROR_SHARING_VIOLATION ? EACCES
                                                                     : EIO;
  return -1;
}

extern "C" ssize_t getrandom(void* buf, size_t n, unsigned /*flags*/) {
  auto* p = static_cast<unsigned char*>(buf);
  size_t done = 0;
  while (done < n) {
    const ULONG chunk = n - done > 0x10000000u ? 0x10000000u : static_cast<ULONG>(n - done);
    if (BCryptGenRandom(nullptr, p + done, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
      errno = EIO;
      return -1;
    }
    done += chunk;
  }
  return static_cast<ssize_t>(n);
}

extern "C" char* mkdtemp(char* tmpl) {
  const size_t n = tmpl ? strlen(tmpl) : 0;
  if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
    errno = EINVAL;
    return nullptr;
  }
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int attempt = 0; attempt < 100; ++attempt) {
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) return nullptr;
    for (int i = 0; i < 6; ++i) tmpl[n - 6 + i] = kChars[r[i] % 36];
    if (_mkdir(tmpl) == 0) return tmpl;
    if (errno != EEXIST) return nullptr;
  }
  errno = EEXIST;
  return nullptr;
}
