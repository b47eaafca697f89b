// The few POSIX calls shared/ and agent/ make, on Windows. Force-included (-include) into Vigil's
// own sources only when cross-building for Windows, so the portable code stays as it is and the
// Linux build never sees this file. Deliberately does not include <windows.h> (its macros would
// leak into every file); the definitions live in platform/windows/posix_compat.cpp.
//
// What it promises:
// - O_CLOEXEC means "not inherited, binary mode" (_O_NOINHERIT | _O_BINARY): every open() in
//   Vigil passes O_CLOEXEC, so no file is ever opened in text mode (no CRLF translation).
// - O_NOATIME, O_NONBLOCK, O_NOCTTY have no Windows meaning and are 0.
// - pread() reads at an offset without moving the file position (ReadFile with an OVERLAPPED
//   offset on the CRT handle).
// - rename() replaces an existing target (MoveFileEx REPLACE_EXISTING | WRITE_THROUGH), as POSIX
//   rename does; the CRT's rename fails when the target exists.
// - fsync() is _commit() (FlushFileBuffers); fchmod() succeeds without effect (the installer
//   sets the data directory's ACL: administrators and SYSTEM only, see docs/WINDOWS.md).
// - mkdtemp() creates a fresh directory from a XXXXXX template (random, retried on collision).
// - gmtime_r/timegm map to gmtime_s/_mkgmtime.
#pragma once
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#endif
#ifndef O_NOATIME
#define O_NOATIME 0
#endif
#ifndef O_NONBLOCK
#define O_NONBLOCK 0
#endif
#ifndef O_NOCTTY
#define O_NOCTTY 0
#endif

#ifdef __cplusplus
extern "C" {
#endif
ssize_t vigil_posix_pread(int fd, void* buf, size_t n, long long offset);
int vigil_posix_rename(const char* from, const char* to);
// mkdtemp(3): replaces the trailing XXXXXX and creates the directory; NULL with errno on failure.
char* mkdtemp(char* tmpl);
#ifdef __cplusplus
}
#endif

#define pread(fd, buf, n, off) vigil_posix_pread((fd), (buf), (n), (long long)(off))
#define rename(from, to) vigil_posix_rename((from), (to))
static inline int fsync(int fd) { return _commit(fd); }
static inline int fchmod(int, unsigned) { return 0; }
static inline struct tm* gmtime_r(const time_t* t, struct tm* out) { return gmtime_s(out, t) == 0 ? out : NULL; }
static inline time_t timegm(struct tm* tm) { return _mkgmtime(tm); }
#endif
