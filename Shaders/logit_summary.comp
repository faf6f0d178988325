#version 450
#extension GL_GOOGLE_include_directive : require
// The lens's reduction of rows of logits [rows, vocab], one workgroup per row, so that only a few
// numbers per row come back: the max, Σ exp(l − max) and Σ exp(l − max)·(l − max); the topK
// largest logits, largest first, ties to the lower index (topK rounds, each the largest entry
// ordered after the last one taken); and for each asked token its 1-based rank (entries above it,
// or equal with a lower index, plus one) and its logit. Row r of the output, stride
// 3 + 2·topK + 2·tokenCount floats: max, sum, weighted, (index, logit) × topK, (rank, logit) ×
// tokens; indices and ranks as uint bits. With perRow set, row r is asked for T[r] alone
// (tokenCount is 1): a next-token loss's own target.
// The max, the two sums and the rank counts reduce with subgroup operations and one shared slot per
// subgroup in the `subgroup` variant (subgroups of 4 or more), else with shared-memory trees.
// variant: subgroup -DSUBGROUP=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer LBuf { float L[]; };
layout(std430, set = 0, binding = 1) readonly buffer TBuf { uint T[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, vocab, lOff, topK, tokenCount, perRow; } p;

#include "common.glsl"

shared float values[gl_WorkGroupSize.x];
shared float second[gl_WorkGroupSize.x];
shared uint indices[gl_WorkGroupSize.x];

#ifdef SUBGROUP
// One slot per subgroup, then every invocation folds the slots (they fit: subgroups of 4 or more).
float workgroupMax(float v) {
    v = subgroupMax(v);
    if (gl_SubgroupInvocationID == 0u) values[gl_SubgroupID] = v;
    barrier();
    float m = values[0];
    for (uint g = 1; g < gl_NumSubgroups; g++) m = max(m, values[g]);
    barrier();
    return m;
}
vec2 workgroupSum2(float a, float b) {
    a = subgroupAdd(a);
    b = subgroupAdd(b);
    if (gl_SubgroupInvocationID == 0u) { values[gl_SubgroupID] = a; second[gl_SubgroupID] = b; }
    barrier();
    vec2 s = vec2(0.0);
    for (uint g = 0; g < gl_NumSubgroups; g++) s += vec2(values[g], second[g]);
    barrier();
    return s;
}
uint workgroupCount(uint c) {
    c = subgroupAdd(c);
    if (gl_SubgroupInvocationID == 0u) indices[gl_SubgroupID] = c;
    barrier();
    uint s = 0u;
    for (uint g = 0; g < gl_NumSubgroups; g++) s += indices[g];
    barrier();
    return s;
}
#else
float workgroupMax(float v) {
    uint tid = gl_LocalInvocationID.x;
    values[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) values[tid] = max(values[tid], values[tid + s]);
        barrier();
    }
    float m = values[0];
    barrier();
    return m;
}
vec2 workgroupSum2(float a, float b) {
    uint tid = gl_LocalInvocationID.x;
    values[tid] = a;
    second[tid] = b;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) { values[tid] += values[tid + s]; second[tid] += second[tid + s]; }
        barrier();
    }
    vec2 r = vec2(values[0], second[0]);
    barrier();
    return r;
}
uint workgroupCount(uint c) {
    uint tid = gl_LocalInvocationID.x;
    indices[tid] = c;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) indices[tid] += indices[tid + s];
        barrier();
    }
    uint r = indices[0];
    barrier();
    return r;
}
#endif

// (value, index) a comes before b: larger value, or equal value and lower index.
bool before(float av, uint ai, float bv, uint bi) { return av > bv || (av == bv && ai < bi); }

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint base = p.lOff + row * p.vocab, out_ = row * (3 + 2 * p.topK + 2 * p.tokenCount);

    float top = NEG_INF;
    for (uint j = tid; j < p.vocab; j += size) top = max(top, L[base + j]);
    top = workgroupMax(top);

    float sum = 0.0, weighted = 0.0;
    for (uint j = tid; j < p.vocab; j += size) {
        float d = L[base + j] - top, e = exp(d);
        sum += e;
        weighted += e * d;
    }
    vec2 sums = workgroupSum2(sum, weighted);
    if (tid == 0u) { O[out_] = top; O[out_ + 1] = sums.x; O[out_ + 2] = sums.y; }

    // Top k: round r takes the first entry (in the order above) after round r − 1's.
    float lastValue = 0.0;
    uint lastIndex = 0xffffffffu;
    for (uint r = 0; r < p.topK; r++) {
        float bestValue = NEG_INF;
        uint bestIndex = 0xffffffffu;
        for (uint j = tid; j < p.vocab; j += size) {
            float v = L[base + j];
            bool after = lastIndex == 0xffffffffu || before(lastValue, lastIndex, v, j);
            if (after && (bestIndex == 0xffffffffu || before(v, j, bestValue, bestIndex))) { bestValue = v; bestIndex = j; }
        }
        values[tid] = bestValue;
        indices[tid] = bestIndex;
        barrier();
        for (uint s = size / 2; s > 0; s >>= 1) {
            if (tid < s && indices[tid + s] != 0xffffffffu
                && (indices[tid] == 0xffffffffu || before(values[tid + s], indices[tid + s], values[tid], indices[tid]))) {
                values[tid] = values[tid + s];
                indices[tid] = indices[tid + s];
            }
            barrier();
        }
        lastValue = values[0];
        lastIndex = indices[0];
        if (tid == 0u) { O[out_ + 3 + 2 * r] = uintBitsToFloat(lastIndex); O[out_ + 4 + 2 * r] = lastValue; }
        barrier();
    }

    for (uint t = 0; t < p.tokenCount; t++) {
        uint token = T[p.perRow != 0u ? row : t];
        float mine = L[base + token];
        uint above = 0;
        for (uint j = tid; j < p.vocab; j += size) if (before(L[base + j], j, mine, token)) above++;
        above = workgroupCount(above);
        if (tid == 0u) { O[out_ + 3 + 2 * p.topK + 2 * t] = uintBitsToFloat(above + 1u); O[out_ + 4 + 2 * p.topK + 2 * t] = mine; }
    }
}
