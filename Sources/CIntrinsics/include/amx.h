#ifndef LANTERN_AMX_H
#define LANTERN_AMX_H

#include <stddef.h>
#include <stdint.h>

// Intel AMX (Sapphire Rapids and later) for exact f32 products of activations with GGUF block
// weights. Each weight is scale · q + offset per 32-weight block, q an integer of at most 8 bits,
// exact in bf16; each f32 activation is split into three bf16 pieces whose sum is exactly the
// activation (8 significant bits each). AMX multiplies bf16 pairs exactly and adds the products in
// f32, so Σ_i q_i · x_i is an f32 sum of exact products; the block's scale multiplies it afterwards
// and its offset multiplies the activations' block sum: Σ (s q_i + o) x_i = s Σ q_i x_i + o Σ x_i.
// Q6_K's weights are d · (sc · q) with sc an 8-bit scale per 16 weights: the integer sc · q has up
// to 13 bits, so it is split into two bf16 pieces that sum to it exactly, and d multiplies the
// sums of a whole 256-weight super-block. bf16 weights, and f32 weights that are all bf16 values,
// are one exact piece with no scale. (General f32 weights would need three pieces, nine tile
// products per block: slower than the vector path, measured.) The vector path adds the products
// of the dequantised weights instead; the two differ by f32 rounding. Limits: AMX reads bf16
// subnormals as zero, so a piece below 2^-126 (an activation below ~1e-33) is dropped.

/// Weight types the tile kernel reads.
enum {
    LANTERN_AMX_Q8_0 = 0,
    LANTERN_AMX_Q4_0 = 1,
    LANTERN_AMX_Q4_1 = 2,
    LANTERN_AMX_Q5_0 = 3,
    LANTERN_AMX_Q5_1 = 4,
    LANTERN_AMX_Q4_K = 5,
    LANTERN_AMX_Q6_K = 6,
    LANTERN_AMX_BF16 = 7,
    /// f32 rows whose every value is a bf16 value (its low 16 bits zero), such as an SAE read from
    /// a bf16 file: one piece holds each exactly.
    LANTERN_AMX_F32_BF16_VALUES = 8,
};

/// 1 when the CPU has AMX-BF16 and AVX-512 BF16 and the kernel grants this process the tile state
/// (Linux's ARCH_REQ_XCOMP_PERM); asked once. Always 0 off x86-64.
int lantern_amx_available(void);

/// bf16 values `lantern_amx_pack_activations` writes for n rows of width k (k a multiple of 32).
size_t lantern_amx_packed_count(int n, int k);

/// Bytes of one weight row of `type` with k weights (k a multiple of its block).
size_t lantern_amx_row_bytes(int type, int k);

/// Splits x [n, k] into three bf16 pieces and packs 16-row tiles t0 ..< t1 of them as AMX B tiles:
/// per tile, 32-wide block and piece, 16 pair-rows × 16 activation rows (rows past n are zero).
/// With `sums`, also each row's f32 sum over each block, sums[(t · k/32 + b) · 16 + r].
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed, float *sums, int t0, int t1);

/// out[r · m + j] = Σ over blocks of scale_jb · Σ_i q_jbi · x[r][32b + i] + offset_jb · sums[r][b]
/// (Q6_K: Σ over super-blocks of d_j · Σ_i (sc · q)_ji · x[r][i]; bf16 values: Σ_i w_ji · x[r][i],
/// k a multiple of 32) for r < n and weight rows j in
/// [j0, j1); `w` the stored rows of `type`, `sums` needed for the types with offsets (Q4_1, Q5_1,
/// Q4_K). Needs lantern_amx_available() and is safe to call from several threads on disjoint rows j.
void lantern_amx_rows(int type, const uint16_t *packed, const float *sums, const void *w, float *out,
                      int n, int k, int m, int j0, int j1);

#endif
