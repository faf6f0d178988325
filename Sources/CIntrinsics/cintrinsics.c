// Header-only: every function is static inline in include/cintrinsics.h.
