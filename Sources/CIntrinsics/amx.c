#include "amx.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LANTERN_VECTOR_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,f16c")))
#define LANTERN_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,f16c,amx-tile,amx-bf16")))

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
    int tiles = (d >> 24) & 1, amx_bf16 = (d >> 22) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    int avx512_bf16 = (a >> 5) & 1;
    if (!(tiles && amx_bf16 && avx512f && avx512bw && avx512_bf16)) return state = 0;
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

LANTERN_VECTOR_TARGET
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed) {
    int blocks = k / 32, tiles = (n + 15) / 16;
    uint32_t natural[3][256] __attribute__((aligned(64)));
    for (int t = 0; t < tiles; t++) {
        for (int b = 0; b < blocks; b++) {
            for (int r = 0; r < 16; r++) {
                int row = 16 * t + r;
                if (row >= n) {
                    for (int p = 0; p < 3; p++) memset(natural[p] + r * 16, 0, 64);
                    continue;
                }
                __m512 lo = _mm512_loadu_ps(x + (size_t)row * k + 32 * b);
                __m512 hi = _mm512_loadu_ps(x + (size_t)row * k + 32 * b + 16);
                // Each piece is the remainder rounded to bf16; x - piece is exact in f32, and after
                // three pieces nothing is left (8 + 8 + 8 significant bits cover f32's 24).
                for (int p = 0; p < 3; p++) {
                    __m512i v = to_bf16(lo, hi);
                    _mm512_store_si512(natural[p] + r * 16, v);
                    lo = _mm512_sub_ps(lo, widen_bf16(_mm512_castsi512_si256(v)));
                    hi = _mm512_sub_ps(hi, widen_bf16(_mm512_extracti64x4_epi64(v, 1)));
                }
            }
            // B tiles are pair-major: the pair (2i, 2i+1) of activation row r at dword [i][r].
            for (int p = 0; p < 3; p++) {
                uint32_t *dst = (uint32_t *)(packed + ((size_t)(t * blocks + b) * 3 + p) * 512);
                for (int i = 0; i < 16; i++)
                    for (int r = 0; r < 16; r++) dst[i * 16 + r] = natural[p][r * 16 + i];
            }
        }
    }
}

/// Weight rows v0 ..< v0 + 32 as bf16 A tiles, stage[b][16 · half + v][32], and their scales,
/// scale[b][32]; rows at or past `end` are zero.
LANTERN_VECTOR_TARGET static void stage_weights(const uint8_t *w, size_t row_bytes, int blocks, int v0, int end,
                                                uint16_t *stage, float *scale) {
    const uint8_t *next = w + (size_t)(v0 + 32) * row_bytes;
    size_t ahead = (size_t)(end > v0 + 32 ? (end - v0 - 32 < 32 ? end - v0 - 32 : 32) : 0) * row_bytes;
    size_t line = 0;
    for (int v = 0; v < 32; v++) {
        for (int b = 0; b < blocks; b++) {
            uint16_t *dst = stage + b * 1024 + v * 32;
            if (v0 + v >= end) {
                memset(dst, 0, 64);
                scale[b * 32 + v] = 0;
                continue;
            }
            const uint8_t *block = w + (size_t)(v0 + v) * row_bytes + (size_t)b * 34;
            uint16_t d;
            memcpy(&d, block, 2);
            scale[b * 32 + v] = _cvtsh_ss(d);
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 2));
            __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
            __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
            _mm512_store_si512(dst, to_bf16(lo, hi));
            // The next 32 rows' bytes, a line per block staged, so they arrive before they are read.
            if (line < ahead) { _mm_prefetch((const char *)next + line, _MM_HINT_T0); line += 64; }
        }
    }
    for (; line < ahead; line += 64) _mm_prefetch((const char *)next + line, _MM_HINT_T0);
}

/// Activation rows per pass over the weights: their packed tiles (256 × k × 6 bytes) stay in L2.
enum { rows_per_pass = 256 };

LANTERN_AMX_TARGET
void lantern_amx_q8_0_rows(const uint16_t *packed, const void *weights, float *out, int n, int k, int m,
                           int j0, int j1) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int i = 0; i < 8; i++) { config.rows[i] = 16; config.bytes_per_row[i] = 64; }
    _tile_loadconfig(&config);

    const uint8_t *w = weights;
    int blocks = k / 32, tiles = (n + 15) / 16;
    size_t row_bytes = (size_t)blocks * 34, tile_values = (size_t)blocks * 3 * 512;
    uint16_t *stage = aligned_alloc(64, (size_t)blocks * 2048);
    float *scale = aligned_alloc(64, (size_t)blocks * 128);
    float *products = aligned_alloc(64, 4096), *sums = aligned_alloc(64, 4096);

    for (int t0 = 0; t0 < tiles; t0 += rows_per_pass / 16) {
        int t1 = t0 + rows_per_pass / 16 < tiles ? t0 + rows_per_pass / 16 : tiles;
        for (int v0 = j0; v0 < j1; v0 += 32) {
            stage_weights(w, row_bytes, blocks, v0, j1, stage, scale);
            // Two weight tiles (A: tmm0, tmm1) × two activation tiles (B: tmm2, tmm3) → four C tiles
            // (tmm4..7), each the chain of a block's three pieces.
            for (int t = t0; t < t1; t += 2) {
                const uint16_t *x0 = packed + (size_t)t * tile_values;
                const uint16_t *x1 = t + 1 < t1 ? x0 + tile_values : x0;
                memset(sums, 0, 4096);
                for (int b = 0; b < blocks; b++) {
                    _tile_loadd(0, stage + b * 1024, 64);
                    _tile_loadd(1, stage + b * 1024 + 512, 64);
                    _tile_zero(4); _tile_zero(5); _tile_zero(6); _tile_zero(7);
                    for (int p = 0; p < 3; p++) {
                        _tile_loadd(2, x0 + (b * 3 + p) * 512, 64);
                        _tile_loadd(3, x1 + (b * 3 + p) * 512, 64);
                        _tile_dpbf16ps(4, 0, 2); _tile_dpbf16ps(5, 0, 3);
                        _tile_dpbf16ps(6, 1, 2); _tile_dpbf16ps(7, 1, 3);
                    }
                    _tile_stored(4, products, 64); _tile_stored(5, products + 256, 64);
                    _tile_stored(6, products + 512, 64); _tile_stored(7, products + 768, 64);
                    // C row v is weight row v against the 16 activation rows: scale it by d_vb.
                    for (int c = 0; c < 4; c++) {
                        const float *d = scale + b * 32 + (c >> 1) * 16;
                        float *s = sums + c * 256;
                        const float *prod = products + c * 256;
                        for (int v = 0; v < 16; v++)
                            _mm512_store_ps(s + v * 16, _mm512_fmadd_ps(_mm512_set1_ps(d[v]), _mm512_load_ps(prod + v * 16),
                                                                         _mm512_load_ps(s + v * 16)));
                    }
                }
                for (int c = 0; c < 4; c++) {
                    int tile = t + (c & 1), base = v0 + (c >> 1) * 16;
                    if (tile >= t1) continue;
                    int rows = n - 16 * tile < 16 ? n - 16 * tile : 16, cols = j1 - base < 16 ? j1 - base : 16;
                    const float *s = sums + c * 256;
                    for (int r = 0; r < rows; r++) {
                        float *o = out + (size_t)(16 * tile + r) * m + base;
                        for (int v = 0; v < cols; v++) o[v] = s[v * 16 + r];
                    }
                }
            }
        }
    }
    free(stage); free(scale); free(products); free(sums);
    _tile_release();
}

#else

int lantern_amx_available(void) { return 0; }
size_t lantern_amx_packed_count(int n, int k) { return 0; }
void lantern_amx_pack_activations(const float *x, int n, int k, uint16_t *packed) {}
void lantern_amx_q8_0_rows(const uint16_t *packed, const void *w, float *out, int n, int k, int m, int j0, int j1) {}

#endif
