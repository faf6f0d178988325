#ifndef CINTRINSICS_H
#define CINTRINSICS_H

// Single instructions the Swift kernels need and Swift cannot spell. Each is a static inline
// function, so it inlines into the Swift caller as the one instruction.

/// Asks for the cache line at `p` ahead of its use (no fault, no effect on results): prefetcht0.
static inline __attribute__((always_inline)) void lantern_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// The same into L2 and outward, not L1 (prefetcht1): for data wanted a while later, which would
/// only evict what L1 holds now.
static inline __attribute__((always_inline)) void lantern_prefetch_l2(const void *p) {
    __builtin_prefetch(p, 0, 2);
}

#if defined(__AVX2__)
#include <immintrin.h>
#endif

typedef float lantern_f32x8 __attribute__((ext_vector_type(8)));

/// The 8 signed bytes at p as exact floats: vpmovsxbd and vcvtdq2ps with AVX2. Swift's generic
/// conversions for this became two out-of-line calls per eight weights in the Q8_0 panel fill.
static inline __attribute__((always_inline)) lantern_f32x8 lantern_i8x8_to_f32(const void *p) {
#if defined(__AVX2__)
    return (lantern_f32x8)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
#else
    const signed char *b = (const signed char *)p;
    lantern_f32x8 r;
    for (int i = 0; i < 8; i++) r[i] = (float)b[i];
    return r;
#endif
}

/// Bit i set where p[i] >= floor, for the 16 floats at p (false for NaN): one compare into a
/// mask register with AVX-512. Swift's `any` over a 16-lane comparison became a lane loop.
static inline __attribute__((always_inline)) unsigned lantern_mask_at_least16(const float *p, float floor) {
#if defined(__AVX512F__)
    return _mm512_cmp_ps_mask(_mm512_loadu_ps(p), _mm512_set1_ps(floor), _CMP_GE_OQ);
#else
    unsigned mask = 0;
    for (int i = 0; i < 16; i++) mask |= (unsigned)(p[i] >= floor) << i;
    return mask;
#endif
}

/// Bit i set where p[i] != 0 (true for NaN), for the 16 floats at p.
static inline __attribute__((always_inline)) unsigned lantern_mask_nonzero16(const float *p) {
#if defined(__AVX512F__)
    return _mm512_cmp_ps_mask(_mm512_loadu_ps(p), _mm512_setzero_ps(), _CMP_NEQ_UQ);
#else
    unsigned mask = 0;
    for (int i = 0; i < 16; i++) mask |= (unsigned)(p[i] != 0) << i;
    return mask;
#endif
}

#if defined(__AVX512F__)

typedef float lantern_f32x4 __attribute__((ext_vector_type(4)));
typedef float lantern_f32x16 __attribute__((ext_vector_type(16)));
typedef unsigned int lantern_u32x16 __attribute__((ext_vector_type(16)));

/// Lane i is table[index[i] mod 16] (vpermps: only the low four bits of each index are read).
static inline __attribute__((always_inline))
lantern_f32x16 lantern_lookup16(lantern_f32x16 table, lantern_u32x16 index) {
    return (lantern_f32x16)_mm512_permutexvar_ps((__m512i)index, (__m512)table);
}

/// Lane i is the 32-entry table (low, high)[index[i] mod 32] (vpermt2ps: the low five bits).
static inline __attribute__((always_inline))
lantern_f32x16 lantern_lookup32(lantern_f32x16 low, lantern_f32x16 high, lantern_u32x16 index) {
    return (lantern_f32x16)_mm512_permutex2var_ps((__m512)low, (__m512i)index, (__m512)high);
}

/// `v` plus `addend` in the lanes whose bit of `mask` is set, `v` elsewhere (one masked vaddps).
static inline __attribute__((always_inline))
lantern_f32x16 lantern_add_where(lantern_f32x16 v, unsigned short mask, lantern_f32x16 addend) {
    return (lantern_f32x16)_mm512_mask_add_ps((__m512)v, (__mmask16)mask, (__m512)v, (__m512)addend);
}

/// `v` unchanged, but unknown to the optimiser from here on. For loop constants such as the
/// row dots' shift counts and code tables: knowing them, LLVM rewrote broadcast-and-shift into a
/// dozen lane shuffles per block and split the table arithmetic across lanes.
static inline __attribute__((always_inline)) lantern_u32x16 lantern_opaque_u32x16(lantern_u32x16 v) {
    __asm__("" : "+v"(v));
    return v;
}

static inline __attribute__((always_inline)) lantern_f32x16 lantern_opaque_f32x16(lantern_f32x16 v) {
    __asm__("" : "+v"(v));
    return v;
}

/// The 16 bytes at `p` (any alignment) in each 128-bit quarter, as one vbroadcasti32x4 load.
/// Written as the instruction: as a load and a splat, LLVM merged it with neighbouring loads of
/// the same block into a chain of lane inserts and shuffles.
static inline __attribute__((always_inline)) lantern_u32x16 lantern_broadcast_quarter(const void *p) {
    lantern_u32x16 v;
    __asm__("vbroadcasti32x4 %1, %0" : "=v"(v) : "m"(*(const struct { char b[16]; } *)p));
    return v;
}

/// Bits of `a` where `mask` is set, of `b` elsewhere: one vpternlogd (LLVM split the plain
/// `(a & mask) | (b & ~mask)` into an and and a ternary op).
static inline __attribute__((always_inline))
lantern_u32x16 lantern_select_bits(lantern_u32x16 mask, lantern_u32x16 a, lantern_u32x16 b) {
    return (lantern_u32x16)_mm512_ternarylogic_epi32((__m512i)mask, (__m512i)a, (__m512i)b, 0xCA);
}

/// The 16 signed bytes at `p` (any alignment) as exact f32: vpmovsxbd and vcvtdq2ps.
static inline __attribute__((always_inline)) lantern_f32x16 lantern_signed_bytes16(const void *p) {
    return (lantern_f32x16)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/// The f16 at `p` (any alignment), exactly, in every lane: vcvtph2ps from memory (it reads the
/// 8 bytes at `p`), then a broadcast. Written as the instruction: LLVM turned the conversion of a
/// loaded half into a vpinsrw into whatever register was free, and each block's conversion then
/// waited on that register's last writer, an accumulator.
static inline __attribute__((always_inline)) lantern_f32x16 lantern_half16(const void *p) {
    __m128 v;
    __asm__("vcvtph2ps %1, %0" : "=v"(v) : "m"(*(const struct { char b[8]; } *)p));
    return (lantern_f32x16)_mm512_broadcastss_ps(v);
}

/// The 16 bf16 at `p` (any alignment) as exact f32: vpmovzxwd and a shift. (Swift's SIMD16
/// widening initialiser stayed an out-of-line call with every operand spilled.)
static inline __attribute__((always_inline)) lantern_f32x16 lantern_bf16x16(const void *p) {
    return (lantern_f32x16)_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16);
}

/// The 16 f16 at `p` (any alignment) as exact f32: vcvtph2ps.
static inline __attribute__((always_inline)) lantern_f32x16 lantern_f16x16(const void *p) {
    return (lantern_f32x16)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/// The 16 bytes at `p` (any alignment) zero-extended into 16 lanes (vpmovzxbd from memory).
static inline __attribute__((always_inline)) lantern_u32x16 lantern_bytes16(const void *p) {
    return (lantern_u32x16)_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}

/// A Q4_K or Q5_K block's eight sub-block scales and minimums (block at `p`: f16 d, f16 dmin,
/// then 12 bytes of 6-bit values), as d·scale in lanes 0..<8 and dmin·min in lanes 8..<16,
/// the products the reference decoder forms. The 6-bit fields are gathered with two byte
/// shuffles and masks instead of eight scalar extractions and lane inserts.
static inline __attribute__((always_inline)) lantern_f32x16 lantern_k_scales(const void *p) {
    const char *b = (const char *)p;
    __m128i q = _mm_loadu_si128((const __m128i *)(b + 4));
    // Low parts: scales 0–3 and minimums 0–3 are whole bytes (6 bits); scales 4–7 the low
    // nibbles of bytes 8–11, minimums 4–7 their high nibbles.
    __m128i low = _mm_shuffle_epi8(q, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    // High parts of scales and minimums 4–7: the top two bits of bytes 0–3 and 4–7, moved to bits 4 and 5.
    __m128i high = _mm_shuffle_epi8(q, _mm_setr_epi8(0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7));
    __m128i fields = _mm_or_si128(
        _mm_or_si128(_mm_and_si128(low, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0)),
                     _mm_and_si128(_mm_srli_epi16(low, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15))),
        _mm_and_si128(_mm_srli_epi16(high, 2), _mm_setr_epi8(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48)));
    int halves;
    __builtin_memcpy(&halves, b, 4);
    __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(halves));
    __m512 factor = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                          _mm512_castps128_ps512(dm));
    return (lantern_f32x16)_mm512_mul_ps(factor, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(fields)));
}

/// The four f16 at `p` (any alignment) as f32, exactly (vcvtph2ps from memory).
static inline __attribute__((always_inline)) lantern_f32x4 lantern_halves4(const void *p) {
    return (lantern_f32x4)_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p));
}

#endif

#if defined(__x86_64__)
#include <immintrin.h>

/// dst[c · dst_stride + r] = src[r · src_stride + c] for a 16 × 16 block of floats: four rounds of
/// unpacks and 128-bit lane shuffles (64 instructions) instead of 256 scalar moves. More than one
/// instruction, but Swift's SIMD types cannot spell the lane shuffles either. Built for AVX-512 on
/// any build (its own target attribute), so the AMX kernel shares it; call it only where AVX-512 is.
static inline __attribute__((always_inline, target("avx512f")))
void lantern_transpose16x16(const float *src, long src_stride, float *dst, long dst_stride) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_castps_si512(_mm512_loadu_ps(src + i * src_stride));
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * dst_stride, _mm512_castsi512_ps(r[i]));
}
#endif

#endif
