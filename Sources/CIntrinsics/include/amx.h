#ifndef LANTERN_AMX_H
#define LANTERN_AMX_H

#include <stddef.h>
#include <stdint.h>

// Intel AMX (Sapphire Rapids and later) for the exact f32 product of activations with Q8_0 weights.
// A Q8_0 weight is d · q with q an 8-bit integer, exact in bf16; each f32 activation is split into
// three bf16 pieces whose sum is exactly the activation (8 significant bits each). AMX multiplies
// bf16 pairs exactly and adds the products in f32, so Σ_i q_i · x_i is an f32 sum of exact
// products, as on the vector path; only the order of the additions differs. The block's scale d
// multiplies that sum afterwards (Σ_b d_b · Σ_i q_i x_i rather than Σ (d_b q_i) x_i).
// Limits: AMX reads bf16 subnormals as zero, so a piece below 2^-126 (an activation below ~1e-33)
// is dropped.

/// 1 when the CPU has AMX-BF16 and AVX-512 BF16 and the kernel grants this process the tile state
/// (Linux's ARCH_REQ_XCOMP_PERM); asked once. Always 0 off x86-64.
int lantern_amx_available(void);

/// bf16 values `lantern_amx_pack_activations` writes for n rows of width k (k a multiple of 32).
size_t lantern_amx_packed_count(int n, int k);

/// Splits x [n, k] into three bf16 pieces and packs them as AMX B tiles: per 16-row tile, 32-wide
/// block and piece, 16 pair-rows × 16 activation rows (rows past n are zero).
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed);

/// out[r · m + j] = Σ_b d_jb · Σ_i q_jbi · x[r][32b + i] for r < n and weight rows j in [j0, j1),
/// w the Q8_0 weight rows (34-byte blocks: f16 d, 32 int8 q), k/32 blocks a row. Needs
/// lantern_amx_available() and is safe to call from several threads on disjoint rows j.
void lantern_amx_q8_0_rows(const uint16_t *packed, const void *w, float *out, int n, int k, int m,
                           int j0, int j1);

#endif
