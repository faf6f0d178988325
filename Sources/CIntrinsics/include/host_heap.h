#ifndef LANTERN_HOST_HEAP_H
#define LANTERN_HOST_HEAP_H

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/// Serves every C heap block from the heap and keeps freed memory for reuse, instead of glibc's
/// fresh mapping (unmapped again when freed) for each block over 32 MB. For training runs, which
/// allocate and free the same large host arrays every step. Returns 0 where there is no mallopt.
static inline int lantern_keep_freed_memory(void) {
#if defined(M_MMAP_MAX) && defined(M_TRIM_THRESHOLD)
    return mallopt(M_MMAP_MAX, 0) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
#else
    return 0;
#endif
}

#endif
