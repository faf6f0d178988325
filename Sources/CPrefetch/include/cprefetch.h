#ifndef CPREFETCH_H
#define CPREFETCH_H

/// Asks for the cache line at `p` ahead of its use (no fault, no effect on results). Swift has no
/// prefetch of its own; this inlines into the Swift kernels as one prefetcht0.
static inline __attribute__((always_inline)) void lantern_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

#endif
