// Most of this target is static inline in include/cintrinsics.h; amx.c holds the AMX kernel.

#include "cpu_features.h"

int lantern_x86_64_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#endif
    return 0;
}
