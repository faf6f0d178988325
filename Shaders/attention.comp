#version 450
#extension GL_GOOGLE_include_directive : require
// Causal attention with GQA, sliding window and optional logit softcap, over a KV cache.
// One workgroup per (query i, head h). Keys are visited in blocks of the workgroup size with an
// online softmax (running max m and sum l; the output accumulator is rescaled when m grows).
// Query i sits at position queryStart + i and sees key j iff j <= pos and (no window or pos - j < window).
// With wantPattern, a second pass writes the probabilities [heads, n, keyCount] (zeros where masked).
// The softmax's max and sum reduce with subgroupMax/subgroupAdd and one shared slot per subgroup in
// the `subgroup` variant (devices with subgroup arithmetic), else with shared-memory trees.
// The `packed` variants run sequences packed as rows (a batched pass): binding 4 then holds each
// row's sequence start, a query at row i sits at position i − start and sees only the keys of its
// own rows (start + j); keyCount is the rows in all, and there is no pattern.
// variant: subgroup -DSUBGROUP=1
// variant: packed -DPACKED=1
// variant: packed_subgroup -DPACKED=1 -DSUBGROUP=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer QBuf { float Q[]; };
layout(std430, set = 0, binding = 1) readonly buffer KBuf { float K[]; };
layout(std430, set = 0, binding = 2) readonly buffer VBuf { float V[]; };
layout(std430, set = 0, binding = 3) writeonly buffer OBuf { float O[]; };
#ifdef PACKED
layout(std430, set = 0, binding = 4) readonly buffer SBuf { uint ROWSTART[]; };
#else
layout(std430, set = 0, binding = 4) writeonly buffer PBuf { float P[]; };
#endif
layout(push_constant) uniform Push {
    uint n, keyCount, queryStart, heads, kvHeads, headDim, window, wantPattern;
    uint qOff, kOff, vOff, oOff, pOff;
    float scale, softcap;
} p;

#include "common.glsl"

const uint MAX_DIM = 512;
const uint PER_THREAD = 16;  // headDim <= PER_THREAD · workgroup size (checked on the host)
shared float q[MAX_DIM];
shared float probs[gl_WorkGroupSize.x];
shared float red[gl_WorkGroupSize.x];

float score(uint j, uint kvh) {
    uint kb = p.kOff + j * p.kvHeads * p.headDim + kvh * p.headDim;
    float s = 0.0;
    for (uint d = 0; d < p.headDim; d++) s += q[d] * K[kb + d];
    s *= p.scale;
    if (p.softcap > 0.0) s = p.softcap * tanhStable(s / p.softcap);
    return s;
}

#ifdef SUBGROUP
float reduceMax(float v) {
    v = subgroupMax(v);
    if (gl_SubgroupInvocationID == 0u) red[gl_SubgroupID] = v;
    barrier();
    float r = red[0];
    for (uint g = 1; g < gl_NumSubgroups; g++) r = max(r, red[g]);
    barrier();
    return r;
}

float reduceSum(float v) {
    v = subgroupAdd(v);
    if (gl_SubgroupInvocationID == 0u) red[gl_SubgroupID] = v;
    barrier();
    float r = 0.0;
    for (uint g = 0; g < gl_NumSubgroups; g++) r += red[g];
    barrier();
    return r;
}
#else
float reduceMax(float v) {
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] = max(red[tid], red[tid + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduceSum(float v) {
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}
#endif

void main() {
    uint i = gl_WorkGroupID.x, h = gl_WorkGroupID.y;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint D = p.headDim;
    uint kvh = h / (p.heads / p.kvHeads);
#ifdef PACKED
    uint first = ROWSTART[i];  // the row of this sequence's position 0
    uint pos = i - first;
#else
    uint first = 0u;
    uint pos = p.queryStart + i;
#endif
    uint qb = p.qOff + i * p.heads * D + h * D;
    for (uint d = tid; d < D; d += size) q[d] = Q[qb + d];
    barrier();

    uint lo = (p.window > 0u && pos + 1u > p.window) ? pos + 1u - p.window : 0u;
    uint hi = min(pos, p.keyCount - 1u);  // inclusive
    float m = NEG_INF, l = 0.0;
    float acc[PER_THREAD];
    for (uint t = 0; t < PER_THREAD; t++) acc[t] = 0.0;

    for (uint base = lo; base <= hi; base += size) {
        uint j = base + tid;
        float s = j <= hi ? score(first + j, kvh) : NEG_INF;
        float mNew = max(m, reduceMax(s));
        float e = j <= hi ? exp(s - mNew) : 0.0;
        probs[tid] = e;
        float blockSum = reduceSum(e);  // its barriers also publish probs
        float alpha = exp(m - mNew);    // 0 on the first block (m = -inf)
        l = l * alpha + blockSum;
        uint count = min(size, hi - base + 1u);
        for (uint t = 0; t < PER_THREAD; t++) {
            uint d = tid + t * size;
            if (d >= D) break;
            float a = acc[t] * alpha;
            for (uint jj = 0; jj < count; jj++)
                a += probs[jj] * V[p.vOff + (first + base + jj) * p.kvHeads * D + kvh * D + d];
            acc[t] = a;
        }
        m = mNew;
        barrier();
    }
    uint ob = p.oOff + i * p.heads * D + h * D;
    for (uint t = 0; t < PER_THREAD; t++) {
        uint d = tid + t * size;
        if (d >= D) break;
        O[ob + d] = acc[t] / l;
    }
#ifndef PACKED
    if (p.wantPattern != 0u) {
        uint pb = p.pOff + (h * p.n + i) * p.keyCount;
        for (uint j = tid; j < p.keyCount; j += size)
            P[pb + j] = (j >= lo && j <= hi) ? exp(score(j, kvh) - m) / l : 0.0;
    }
#endif
}
