// getrandom(2) on Windows: the system's CSPRNG (BCryptGenRandom); never blocks, fills all of buf.
// See platform/windows/compat/vigil_posix_compat.h.
#pragma once
#include <stddef.h>
#include <sys/types.h>
#ifdef __cplusplus
extern "C" {
#endif
ssize_t getrandom(void* buf, size_t n, unsigned flags);
#ifdef __cplusplus
}
#endif
