#include "amx.h"
#include "cintrinsics.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LANTERN_VECTOR_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,f16c")))
#define LANTERN_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,f16c,amx-tile,amx-bf16")))

/// ldtilecfg's 64-byte operand (palette 1): rows and bytes per row of each tile register.
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

int lantern_amx_available(void) {
    static int state = -1;
    if (state >= 0) return state;
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!((c >> 27) & 1)) return state = 0;  // no OSXSAVE: XCR0 cannot be read
    unsigned xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    // The OS must have enabled the tile state (XCR0 bits 17 and 18) and AVX-512's (5 to 7):
    // a hypervisor may report AMX in CPUID and still leave it off, and a tile instruction then
    // faults (SIGILL).
    if ((xcr0_low & 0x600e6) != 0x600e6) return state = 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    int tiles = (d >> 24) & 1, amx_bf16 = (d >> 22) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    int avx512_bf16 = (a >> 5) & 1;
    if (!(tiles && amx_bf16 && avx512f && avx512bw && avx512vl && avx512_bf16)) return state = 0;
    // ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18): Linux 5.16 and later.
    state = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    return state;
}

size_t lantern_amx_packed_count(int n, int k) {
    return (size_t)((n + 15) / 16) * (size_t)(k / 32) * 3 * 512;
}

/// 32 f32 (lo, hi) to bf16, rounded to nearest even.
LANTERN_VECTOR_TARGET static inline __m512i to_bf16(__m512 lo, __m512 hi) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/// 16 bf16 back to f32 (exact: the bf16 bits are the high half of the f32).
LANTERN_VECTOR_TARGET static inline __m512 widen_bf16(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

/// 32 f32 (lo, hi) as `pieces` bf16 pieces, `stride` values apart, that sum to them exactly when
/// they have at most 8 · pieces significant bits (three pieces for any f32). Each piece is the
/// remainder rounded to bf16, and that remainder minus the piece is exact in f32.
LANTERN_VECTOR_TARGET static inline void store_pieces(__m512 lo, __m512 hi, int pieces, uint16_t *dst, size_t stride) {
    for (int p = 0; p < pieces; p++) {
        __m512i v = to_bf16(lo, hi);
        _mm512_store_si512(dst + p * stride, v);
        lo = _mm512_sub_ps(lo, widen_bf16(_mm512_castsi512_si256(v)));
        hi = _mm512_sub_ps(hi, widen_bf16(_mm512_extracti64x4_epi64(v, 1)));
    }
}

LANTERN_VECTOR_TARGET
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed, float *sums, int t0, int t1) {
    int blocks = k / 32;
    uint32_t natural[3][256] __attribute__((aligned(64)));
    for (int t = t0; t < t1; t++) {
        for (int b = 0; b < blocks; b++) {
            float *block_sums = sums ? sums + ((size_t)t * blocks + b) * 16 : NULL;
            for (int r = 0; r < 16; r++) {
                int row = 16 * t + r;
                if (row >= n) {
                    for (int p = 0; p < 3; p++) memset(natural[p] + r * 16, 0, 64);
                    if (block_sums) block_sums[r] = 0;
                    continue;
                }
                __m512 lo = _mm512_loadu_ps(x + (size_t)row * k + 32 * b);
                __m512 hi = _mm512_loadu_ps(x + (size_t)row * k + 32 * b + 16);
                if (block_sums) block_sums[r] = _mm512_reduce_add_ps(_mm512_add_ps(lo, hi));
                store_pieces(lo, hi, 3, (uint16_t *)(natural[0] + r * 16), 512);
            }
            // B tiles are pair-major: the pair (2i, 2i+1) of activation row r at dword [i][r].
            for (int p = 0; p < 3; p++)
                lantern_transpose16x16((const float *)natural[p], 16, (float *)(packed + ((size_t)(t * blocks + b) * 3 + p) * 512), 16);
        }
    }
}

/// 32 signed 8-bit codes to bf16 (exact: at most 8 significant bits).
LANTERN_VECTOR_TARGET static inline void store_codes(__m256i codes, uint16_t *dst) {
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(codes)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(codes, 1)));
    _mm512_store_si512(dst, to_bf16(lo, hi));
}

/// A 32-weight block's 16 code bytes as 32 nibbles: low nibbles first, then high (ggml's order).
LANTERN_VECTOR_TARGET static inline __m256i nibbles(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs), low = _mm_set1_epi8(0x0F);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(q, low)),
                                   _mm_and_si128(_mm_srli_epi16(q, 4), low), 1);
}

/// Bit i of the 32-bit word at `qh` as 16 in byte i: the fifth bits of Q5_0 and Q5_1.
LANTERN_VECTOR_TARGET static inline __m256i fifth_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
}

LANTERN_VECTOR_TARGET static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// The 6-bit scale and minimum of sub-block j (0..<8) from Q4_K's 12 packed bytes.
static inline void k_scale_min(int j, const uint8_t *q, int *scale, int *minimum) {
    if (j < 4) {
        *scale = q[j] & 63;
        *minimum = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// 32 integers of at most 13 bits (16-bit lanes) as two bf16 pieces that sum to them exactly: the
/// integer rounded to 8 significant bits, and the rest (at most 5 bits).
LANTERN_VECTOR_TARGET static inline void store_split_codes(__m512i codes, uint16_t *high, uint16_t *low) {
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(codes)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(codes, 1)));
    __m512i rounded = to_bf16(lo, hi);
    _mm512_store_si512(high, rounded);
    lo = _mm512_sub_ps(lo, widen_bf16(_mm512_castsi512_si256(rounded)));
    hi = _mm512_sub_ps(hi, widen_bf16(_mm512_extracti64x4_epi64(rounded, 1)));
    _mm512_store_si512(low, to_bf16(lo, hi));
}

/// Q6_K's 32-weight group j (0..<8) of a 210-byte super-block as the pieces of sc · (q − 32): 128
/// bytes of low nibbles, 64 of high bit pairs, 16 int8 scales (one per 16 weights), then f16 d.
/// Half h = j / 4 of the super-block; its group g = j % 4 takes the low (g < 2) or high nibbles
/// of bytes 32 (g % 2) ..< +32 of the half's 64, and bits 2g, 2g + 1 of its 32 high-bit bytes.
LANTERN_VECTOR_TARGET static void stage_q6_k(const uint8_t *super, int j, uint16_t *high, uint16_t *low) {
    int h = j / 4, g = j % 4;
    __m256i ql = _mm256_loadu_si256((const __m256i *)(super + 64 * h + 32 * (g % 2)));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(super + 128 + 32 * h));
    __m256i nibble = _mm256_and_si256(g < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
    __m256i pair = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g)), _mm256_set1_epi8(3));
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibble, _mm256_slli_epi16(pair, 4)), _mm256_set1_epi8(32));
    const int8_t *sc = (const int8_t *)(super + 192) + 8 * h + 2 * g;
    __m512i scales = _mm512_inserti64x4(_mm512_set1_epi16(sc[0]), _mm256_set1_epi16(sc[1]), 1);
    store_split_codes(_mm512_mullo_epi16(_mm512_cvtepi8_epi16(q), scales), high, low);
}

/// One row's 32-weight block b as bf16 codes q and the f32 (scale, offset) with weight = scale · q +
/// offset, the scale and offset as the reference decoder computes them (offset 0 for the symmetric
/// types). Every code is an integer of at most 8 bits.
LANTERN_VECTOR_TARGET static void stage_block(int type, const uint8_t *row, int b, uint16_t *dst, float *scale, float *offset) {
    switch (type) {
    case LANTERN_AMX_Q8_0: {
        const uint8_t *block = row + (size_t)b * 34;
        *scale = half_at(block); *offset = 0;
        store_codes(_mm256_loadu_si256((const __m256i *)(block + 2)), dst);
        break;
    }
    case LANTERN_AMX_Q4_0: {
        const uint8_t *block = row + (size_t)b * 18;
        *scale = half_at(block); *offset = 0;
        store_codes(_mm256_sub_epi8(nibbles(block + 2), _mm256_set1_epi8(8)), dst);
        break;
    }
    case LANTERN_AMX_Q4_1: {
        const uint8_t *block = row + (size_t)b * 20;
        *scale = half_at(block); *offset = half_at(block + 2);
        store_codes(nibbles(block + 4), dst);
        break;
    }
    case LANTERN_AMX_Q5_0: {
        const uint8_t *block = row + (size_t)b * 22;
        *scale = half_at(block); *offset = 0;
        store_codes(_mm256_sub_epi8(_mm256_or_si256(nibbles(block + 6), fifth_bits(block + 2)), _mm256_set1_epi8(16)), dst);
        break;
    }
    case LANTERN_AMX_Q5_1: {
        const uint8_t *block = row + (size_t)b * 24;
        *scale = half_at(block); *offset = half_at(block + 2);
        store_codes(_mm256_or_si256(nibbles(block + 8), fifth_bits(block + 4)), dst);
        break;
    }
    case LANTERN_AMX_Q4_K: {
        // 256-weight super-blocks: f16 d, f16 dmin, 12 bytes of 6-bit scales and minimums, then
        // 128 code bytes, sub-blocks 2i and 2i+1 the low and high nibbles of bytes 32i ..< 32i+32.
        const uint8_t *super = row + (size_t)(b / 8) * 144;
        int j = b % 8, sc, mn;
        k_scale_min(j, super + 4, &sc, &mn);
        *scale = half_at(super) * (float)sc;
        *offset = -(half_at(super + 2) * (float)mn);
        __m256i q = _mm256_loadu_si256((const __m256i *)(super + 16 + 32 * (j / 2)));
        if (j % 2) q = _mm256_srli_epi16(q, 4);
        store_codes(_mm256_and_si256(q, _mm256_set1_epi8(0x0F)), dst);
        break;
    }
    case LANTERN_AMX_Q6_K: {
        // Two pieces (the second at dst + 1024), and the super-block's d as every block's scale:
        // the kernel applies it once per super-block.
        const uint8_t *super = row + (size_t)(b / 8) * 210;
        *scale = half_at(super + 208); *offset = 0;
        stage_q6_k(super, b % 8, dst, dst + 1024);
        break;
    }
    // bf16 values have no blocks: scale 1, and the kernel adds up the whole row before applying it.
    case LANTERN_AMX_BF16:
        *scale = 1; *offset = 0;
        _mm512_store_si512(dst, _mm512_loadu_si512(row + 64 * (size_t)b));
        break;
    case LANTERN_AMX_F32_BF16_VALUES: {
        const float *v = (const float *)row + 32 * b;
        *scale = 1; *offset = 0;
        store_pieces(_mm512_loadu_ps(v), _mm512_loadu_ps(v + 16), 1, dst, 0);
        break;
    }
    }
}

size_t lantern_amx_row_bytes(int type, int k) {
    switch (type) {
    case LANTERN_AMX_Q8_0: return (size_t)k / 32 * 34;
    case LANTERN_AMX_Q4_0: return (size_t)k / 32 * 18;
    case LANTERN_AMX_Q4_1: return (size_t)k / 32 * 20;
    case LANTERN_AMX_Q5_0: return (size_t)k / 32 * 22;
    case LANTERN_AMX_Q5_1: return (size_t)k / 32 * 24;
    case LANTERN_AMX_Q4_K: return (size_t)k / 256 * 144;
    case LANTERN_AMX_Q6_K: return (size_t)k / 256 * 210;
    case LANTERN_AMX_BF16: return (size_t)k * 2;
    case LANTERN_AMX_F32_BF16_VALUES: return (size_t)k * 4;
    }
    return 0;
}

/// Weight rows v0 ..< v0 + 32 as bf16 A tiles, stage[b][piece][16 · half + v][32], with their
/// scales and offsets, scale[b][32] and offset[b][32]; rows at or past `end` are zero.
LANTERN_VECTOR_TARGET static void stage_weights(int type, const uint8_t *w, size_t row_bytes, int blocks, int pieces, int v0, int end,
                                                uint16_t *stage, float *scale, float *offset) {
    const uint8_t *next = w + (size_t)(v0 + 32) * row_bytes;
    size_t ahead = (size_t)(end > v0 + 32 ? (end - v0 - 32 < 32 ? end - v0 - 32 : 32) : 0) * row_bytes;
    size_t line = 0;
    for (int v = 0; v < 32; v++) {
        const uint8_t *row = w + (size_t)(v0 + v) * row_bytes;
        for (int b = 0; b < blocks; b++) {
            uint16_t *dst = stage + (size_t)b * pieces * 1024 + v * 32;
            if (v0 + v >= end) {
                for (int p = 0; p < pieces; p++) memset(dst + p * 1024, 0, 64);
                scale[b * 32 + v] = 0;
                offset[b * 32 + v] = 0;
                continue;
            }
            stage_block(type, row, b, dst, scale + b * 32 + v, offset + b * 32 + v);
            // The next 32 rows' bytes, a line per block staged, so they arrive before they are read.
            if (line < ahead) { _mm_prefetch((const char *)next + line, _MM_HINT_T0); line += 64; }
        }
    }
    for (; line < ahead; line += 64) _mm_prefetch((const char *)next + line, _MM_HINT_T0);
}

/// Activation rows per pass over the weights: their packed tiles (256 × k × 6 bytes) stay in L2.
enum { rows_per_pass = 256 };

LANTERN_AMX_TARGET
void lantern_amx_rows(int type, const uint16_t *packed, const float *sums, const void *weights, float *out,
                      int n, int k, int m, int j0, int j1) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int i = 0; i < 8; i++) { config.rows[i] = 16; config.bytes_per_row[i] = 64; }
    _tile_loadconfig(&config);

    const uint8_t *w = weights;
    int blocks = k / 32, tiles = (n + 15) / 16;
    size_t row_bytes = lantern_amx_row_bytes(type, k), tile_values = (size_t)blocks * 3 * 512;
    int offsets = type == LANTERN_AMX_Q4_1 || type == LANTERN_AMX_Q5_1 || type == LANTERN_AMX_Q4_K;
    // Q6_K: two weight pieces per block, and one scale per 8 blocks, so the C tiles add up a whole
    // super-block before its scale is applied. bf16 values have no scale: the C tiles add up the
    // whole row.
    int pieces = type == LANTERN_AMX_Q6_K ? 2 : 1;
    int group = type == LANTERN_AMX_Q6_K ? 8 : type == LANTERN_AMX_BF16 || type == LANTERN_AMX_F32_BF16_VALUES ? blocks : 1;
    uint16_t *stage = aligned_alloc(64, (size_t)blocks * pieces * 2048);
    float *scale = aligned_alloc(64, (size_t)blocks * 128), *offset = aligned_alloc(64, (size_t)blocks * 128);
    float *products = aligned_alloc(64, 4096), *sums_out = aligned_alloc(64, 4096);

    for (int t0 = 0; t0 < tiles; t0 += rows_per_pass / 16) {
        int t1 = t0 + rows_per_pass / 16 < tiles ? t0 + rows_per_pass / 16 : tiles;
        for (int v0 = j0; v0 < j1; v0 += 32) {
            stage_weights(type, w, row_bytes, blocks, pieces, v0, j1, stage, scale, offset);
            // Two weight tiles (A: tmm0, tmm1) × two activation tiles (B: tmm2, tmm3) → four C tiles
            // (tmm4..7), each the chain of the products of a block's pieces (three activation
            // pieces, times two weight pieces for Q6_K) over `group` blocks.
            for (int t = t0; t < t1; t += 2) {
                const uint16_t *x0 = packed + (size_t)t * tile_values;
                const uint16_t *x1 = t + 1 < t1 ? x0 + tile_values : x0;
                for (int b = 0; b < blocks; b++) {
                    if (b % group == 0) { _tile_zero(4); _tile_zero(5); _tile_zero(6); _tile_zero(7); }
                    for (int piece = 0; piece < pieces; piece++) {
                        const uint16_t *a = stage + (size_t)(b * pieces + piece) * 1024;
                        _tile_loadd(0, a, 64);
                        _tile_loadd(1, a + 512, 64);
                        for (int p = 0; p < 3; p++) {
                            _tile_loadd(2, x0 + (b * 3 + p) * 512, 64);
                            _tile_loadd(3, x1 + (b * 3 + p) * 512, 64);
                            _tile_dpbf16ps(4, 0, 2); _tile_dpbf16ps(5, 0, 3);
                            _tile_dpbf16ps(6, 1, 2); _tile_dpbf16ps(7, 1, 3);
                        }
                    }
                    if ((b + 1) % group) continue;
                    _tile_stored(4, products, 64); _tile_stored(5, products + 256, 64);
                    _tile_stored(6, products + 512, 64); _tile_stored(7, products + 768, 64);
                    // C row v is weight row v against the 16 activation rows: times the block's
                    // scale, plus its offset times each row's block sum (Σ (s·q + o)·x = s·Σ q·x + o·Σ x).
                    // The first group starts the sums (no zero fill: one store per row).
                    int first = b + 1 == group;
                    for (int c = 0; c < 4; c++) {
                        const float *d = scale + b * 32 + (c >> 1) * 16;
                        float *s = sums_out + c * 256;
                        const float *prod = products + c * 256;
                        for (int v = 0; v < 16; v++)
                            _mm512_store_ps(s + v * 16, _mm512_fmadd_ps(_mm512_set1_ps(d[v]), _mm512_load_ps(prod + v * 16),
                                                                         first ? _mm512_setzero_ps() : _mm512_load_ps(s + v * 16)));
                        if (!offsets) continue;
                        const float *o = offset + b * 32 + (c >> 1) * 16;
                        int tile = c & 1 && t + 1 < t1 ? t + 1 : t;  // an odd last tile pairs with itself
                        __m512 row_sums = _mm512_loadu_ps(sums + ((size_t)tile * blocks + b) * 16);
                        for (int v = 0; v < 16; v++)
                            _mm512_store_ps(s + v * 16, _mm512_fmadd_ps(_mm512_set1_ps(o[v]), row_sums, _mm512_load_ps(s + v * 16)));
                    }
                }
                for (int c = 0; c < 4; c++) {
                    int tile = t + (c & 1), base = v0 + (c >> 1) * 16;
                    if (tile >= t1) continue;
                    int rows = n - 16 * tile < 16 ? n - 16 * tile : 16, cols = j1 - base < 16 ? j1 - base : 16;
                    const float *s = sums_out + c * 256;
                    if (rows == 16 && cols == 16) {  // a shuffle network, not 256 single moves (~6% faster)
                        lantern_transpose16x16((const float *)s, 16, out + (size_t)16 * tile * m + base, m);
                        continue;
                    }
                    for (int r = 0; r < rows; r++) {
                        float *o = out + (size_t)(16 * tile + r) * m + base;
                        for (int v = 0; v < cols; v++) o[v] = s[v * 16 + r];
                    }
                }
            }
        }
    }
    free(stage); free(scale); free(offset); free(products); free(sums_out);
    _tile_release();
}

#else

int lantern_amx_available(void) { return 0; }
size_t lantern_amx_packed_count(int n, int k) { return 0; }
size_t lantern_amx_row_bytes(int type, int k) { return 0; }
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed, float *sums, int t0, int t1) {}
void lantern_amx_rows(int type, const uint16_t *packed, const float *sums, const void *w, float *out,
                      int n, int k, int m, int j0, int j1) {}

#endif
