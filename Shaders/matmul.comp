#version 450
#extension GL_GOOGLE_include_directive : require
// out[n, m] = x[n, k] · w[m, k]ᵀ, w in f32 / f16 / bf16 (DTYPE) or, in the variants below, a GGUF
// block-quantised type dequantised in the shader (wOff in bytes); accumulated in f32.
// variant: q8_0 -DQTYPE=1
// variant: q4_0 -DQTYPE=2
// variant: q4_1 -DQTYPE=3
// variant: q5_0 -DQTYPE=4
// variant: q5_1 -DQTYPE=5
// variant: q4_K -DQTYPE=6
// variant: q5_K -DQTYPE=7
// variant: q6_K -DQTYPE=8
// variant: subgroup -DSUBGROUP=1
// variant: q8_0_subgroup -DQTYPE=1 -DSUBGROUP=1
// variant: q4_0_subgroup -DQTYPE=2 -DSUBGROUP=1
// variant: q4_1_subgroup -DQTYPE=3 -DSUBGROUP=1
// variant: q5_0_subgroup -DQTYPE=4 -DSUBGROUP=1
// variant: q5_1_subgroup -DQTYPE=5 -DSUBGROUP=1
// variant: q4_K_subgroup -DQTYPE=6 -DSUBGROUP=1
// variant: q5_K_subgroup -DQTYPE=7 -DSUBGROUP=1
// variant: q6_K_subgroup -DQTYPE=8 -DSUBGROUP=1
// variant: f16 -DF16=1
// variant: q8_0_f16 -DQTYPE=1 -DF16=1
// variant: q4_0_f16 -DQTYPE=2 -DF16=1
// variant: q4_1_f16 -DQTYPE=3 -DF16=1
// variant: q5_0_f16 -DQTYPE=4 -DF16=1
// variant: q5_1_f16 -DQTYPE=5 -DF16=1
// variant: q4_K_f16 -DQTYPE=6 -DF16=1
// variant: q5_K_f16 -DQTYPE=7 -DF16=1
// variant: q6_K_f16 -DQTYPE=8 -DF16=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#ifdef F16
// The `_f16` variants (opt-in, not exact): the tiled modes round x and w to f16 as they fill the
// shared tiles and multiply-add in f16 within each k slice; the slice's sums join f32 accumulators.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define TILE_T float16_t
#else
#define TILE_T float
#endif
// Output rows have stride ldo ≥ m (a weight split by rows writes its columns of a wider output).
// MODE 0: 64×64 output tiles, 16-deep k slices in shared memory, 4×4 outputs per invocation
//         (prefill). Needs 256 invocations.
// MODE 2: 128×128 output tiles, 8-deep k slices, 8×8 outputs per invocation held in registers
//         (large products: each value read from shared memory feeds 8 multiply-adds instead of 4,
//         so shared-memory reads per multiply-add halve). Needs 256 invocations; the same 8.3 KB.
// MODE 1: matrix-vector: one workgroup per output column j, invocations stride over k for up
//         to 8 rows of x, then a reduction (decode): subgroupAdd and one shared slot per subgroup
//         in the `_subgroup` variants (devices with subgroup arithmetic), else a shared-memory tree.
layout(constant_id = 0) const uint DTYPE = 0;
layout(constant_id = 1) const uint MODE = 0;
layout(local_size_x_id = 2) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint n, k, m, xOff, wOff, oOff, ldo; } p;

#include "common.glsl"
#include "weights.glsl"

const uint TILE = 64;
const uint DEPTH = 16;
const uint ROWS = 8;
const uint MATVEC_SIZE = 128;  // the matrix-vector mode runs with exactly this many invocations
const uint BIG = 128;
const uint BIG_DEPTH = 8;
// 8.3 KB of tiles + 4 KB for the reduction: under the 16 KB every Vulkan device has. MODE 0 lays a
// tile out as [DEPTH][TILE + 1], MODE 2 as [BIG_DEPTH][BIG + 1] (1,032 of the 1,040 entries); the
// padding column keeps one k slice's rows in different banks.
shared TILE_T As[DEPTH * (TILE + 1)];
shared TILE_T Bs[DEPTH * (TILE + 1)];
#ifdef SUBGROUP
const uint MOST_SUBGROUPS = 32;  // MATVEC_SIZE / 4: the host takes this variant for subgroups of 4 or more
shared float red[ROWS * MOST_SUBGROUPS];
#else
shared float red[ROWS * MATVEC_SIZE];
#endif

void tiled() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16, ty = tid / 16;
    uint row0 = gl_WorkGroupID.y * TILE, col0 = gl_WorkGroupID.x * TILE;
    const uint S = TILE + 1;
    float acc[4][4];
    for (uint i = 0; i < 4; i++) for (uint j = 0; j < 4; j++) acc[i][j] = 0.0;
    for (uint k0 = 0; k0 < p.k; k0 += DEPTH) {
        for (uint l = 0; l < 4; l++) {
            uint idx = tid + l * 256;
            uint r = idx / DEPTH, kk = idx % DEPTH;
            uint kg = k0 + kk;
            As[kk * S + r] = TILE_T((row0 + r < p.n && kg < p.k) ? X[p.xOff + (row0 + r) * p.k + kg] : 0.0);
            Bs[kk * S + r] = TILE_T((col0 + r < p.m && kg < p.k) ? weightAt(p.wOff, p.k, col0 + r, kg) : 0.0);
        }
        barrier();
#ifdef F16
        TILE_T part[4][4];
        for (uint i = 0; i < 4; i++) for (uint j = 0; j < 4; j++) part[i][j] = TILE_T(0.0);
#endif
        for (uint kk = 0; kk < DEPTH; kk++) {
            TILE_T a[4], b[4];
            for (uint i = 0; i < 4; i++) a[i] = As[kk * S + ty + 16 * i];
            for (uint j = 0; j < 4; j++) b[j] = Bs[kk * S + tx + 16 * j];
#ifdef F16
            for (uint i = 0; i < 4; i++) for (uint j = 0; j < 4; j++) part[i][j] += a[i] * b[j];
#else
            for (uint i = 0; i < 4; i++) for (uint j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
#endif
        }
#ifdef F16
        for (uint i = 0; i < 4; i++) for (uint j = 0; j < 4; j++) acc[i][j] += float(part[i][j]);
#endif
        barrier();
    }
    for (uint i = 0; i < 4; i++) {
        uint r = row0 + ty + 16 * i;
        if (r >= p.n) continue;
        for (uint j = 0; j < 4; j++) {
            uint c = col0 + tx + 16 * j;
            if (c < p.m) O[p.oOff + r * p.ldo + c] = acc[i][j];
        }
    }
}

void blocked() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16, ty = tid / 16;
    uint row0 = gl_WorkGroupID.y * BIG, col0 = gl_WorkGroupID.x * BIG;
    const uint S = BIG + 1;
    float acc[8][8];
    for (uint i = 0; i < 8; i++) for (uint j = 0; j < 8; j++) acc[i][j] = 0.0;
    for (uint k0 = 0; k0 < p.k; k0 += BIG_DEPTH) {
        for (uint l = 0; l < 4; l++) {
            uint idx = tid + l * 256;
            uint r = idx / BIG_DEPTH, kk = idx % BIG_DEPTH;
            uint kg = k0 + kk;
            As[kk * S + r] = TILE_T((row0 + r < p.n && kg < p.k) ? X[p.xOff + (row0 + r) * p.k + kg] : 0.0);
            Bs[kk * S + r] = TILE_T((col0 + r < p.m && kg < p.k) ? weightAt(p.wOff, p.k, col0 + r, kg) : 0.0);
        }
        barrier();
#ifdef F16
        TILE_T part[8][8];
        for (uint i = 0; i < 8; i++) for (uint j = 0; j < 8; j++) part[i][j] = TILE_T(0.0);
#endif
        for (uint kk = 0; kk < BIG_DEPTH; kk++) {
            TILE_T a[8], b[8];
            for (uint i = 0; i < 8; i++) a[i] = As[kk * S + ty + 16 * i];
            for (uint j = 0; j < 8; j++) b[j] = Bs[kk * S + tx + 16 * j];
#ifdef F16
            for (uint i = 0; i < 8; i++) for (uint j = 0; j < 8; j++) part[i][j] += a[i] * b[j];
#else
            for (uint i = 0; i < 8; i++) for (uint j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
#endif
        }
#ifdef F16
        for (uint i = 0; i < 8; i++) for (uint j = 0; j < 8; j++) acc[i][j] += float(part[i][j]);
#endif
        barrier();
    }
    for (uint i = 0; i < 8; i++) {
        uint r = row0 + ty + 16 * i;
        if (r >= p.n) continue;
        for (uint j = 0; j < 8; j++) {
            uint c = col0 + tx + 16 * j;
            if (c < p.m) O[p.oOff + r * p.ldo + c] = acc[i][j];
        }
    }
}

void matvec() {
    uint j = flatGroup();
    if (j >= p.m) return;  // uniform across the workgroup
    uint tid = gl_LocalInvocationID.x, size = MATVEC_SIZE;
    uint rows = min(p.n, ROWS);
    float acc[ROWS];
    for (uint r = 0; r < ROWS; r++) acc[r] = 0.0;
    for (uint kk = tid; kk < p.k; kk += size) {
        float w = weightAt(p.wOff, p.k, j, kk);
        for (uint r = 0; r < rows; r++) acc[r] += X[p.xOff + r * p.k + kk] * w;
    }
#ifdef SUBGROUP
    for (uint r = 0; r < rows; r++) {
        float s = subgroupAdd(acc[r]);
        if (gl_SubgroupInvocationID == 0u) red[r * MOST_SUBGROUPS + gl_SubgroupID] = s;
    }
    barrier();
    if (tid < rows) {
        float total = 0.0;
        for (uint g = 0; g < gl_NumSubgroups; g++) total += red[tid * MOST_SUBGROUPS + g];
        O[p.oOff + tid * p.ldo + j] = total;
    }
#else
    for (uint r = 0; r < rows; r++) red[r * size + tid] = acc[r];
    barrier();
    for (uint s = size / 2; s > 0; s >>= 1) {
        if (tid < s) for (uint r = 0; r < rows; r++) red[r * size + tid] += red[r * size + tid + s];
        barrier();
    }
    if (tid < rows) O[p.oOff + tid * p.ldo + j] = red[tid * size];
#endif
}

void main() {
    if (MODE == 0u) tiled(); else if (MODE == 2u) blocked(); else matvec();
}
