// Header-only: the prefetch hint is a static inline function in include/cprefetch.h.
