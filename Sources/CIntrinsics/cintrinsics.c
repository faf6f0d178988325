// Most of this target is static inline in include/cintrinsics.h; amx.c holds the AMX kernel.

