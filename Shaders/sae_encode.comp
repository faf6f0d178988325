#version 450
#extension GL_GOOGLE_include_directive : require
// Fused SAE encoder: out[r, j] = act(x[r, :] · enc[j, :] + bias[j]) with enc [d_sae, d_in] in DTYPE
// (or a quantised variant's type), accumulated in f32. act 0: ReLU; 1: JumpReLU (pre > threshold[j]
// and pre > 0, else 0); 2: none (the pre-activations, for TopK's selection on the host).
// Output rows have stride ldo (a split encoder runs once per part). One workgroup per feature j (flat over x, y) and block of up to ROWS rows (z); invocations
// stride over d_in, then a reduction: subgroupAdd and one shared slot per subgroup in the
// `_subgroup` variants, else a shared-memory tree.
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
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float B[]; };
layout(std430, set = 0, binding = 3) readonly buffer TBuf { float T[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint n, k, m, xOff, wOff, bOff, tOff, oOff, act, ldo; } p;

#include "common.glsl"
#include "weights.glsl"

const uint ROWS = 8;
const uint SIZE = 128;
#ifdef SUBGROUP
const uint MOST_SUBGROUPS = 32;  // SIZE / 4: the host takes this variant for subgroups of 4 or more
shared float red[ROWS * MOST_SUBGROUPS];
#else
shared float red[ROWS * SIZE];
#endif

void main() {
    uint j = flatGroup();
    if (j >= p.m) return;  // uniform across the workgroup
    uint r0 = gl_WorkGroupID.z * ROWS;
    uint rows = min(p.n - r0, ROWS);
    uint tid = gl_LocalInvocationID.x;
    float acc[ROWS];
    for (uint r = 0; r < ROWS; r++) acc[r] = 0.0;
    for (uint kk = tid; kk < p.k; kk += SIZE) {
        float w = weightAt(p.wOff, p.k, j, kk);
        for (uint r = 0; r < rows; r++) acc[r] += X[p.xOff + (r0 + r) * p.k + kk] * w;
    }
#ifdef SUBGROUP
    for (uint r = 0; r < rows; r++) {
        float s = subgroupAdd(acc[r]);
        if (gl_SubgroupInvocationID == 0u) red[r * MOST_SUBGROUPS + gl_SubgroupID] = s;
    }
    barrier();
    float dot = 0.0;
    if (tid < rows) for (uint g = 0; g < gl_NumSubgroups; g++) dot += red[tid * MOST_SUBGROUPS + g];
#else
    for (uint r = 0; r < rows; r++) red[r * SIZE + tid] = acc[r];
    barrier();
    for (uint s = SIZE / 2; s > 0; s >>= 1) {
        if (tid < s) for (uint r = 0; r < rows; r++) red[r * SIZE + tid] += red[r * SIZE + tid + s];
        barrier();
    }
    float dot = tid < rows ? red[tid * SIZE] : 0.0;
#endif
    if (tid < rows) {
        float pre = dot + B[p.bOff + j];  // bOff, tOff, oOff: the part's first feature
        float v = pre;
        if (p.act == 0u) v = max(pre, 0.0);
        else if (p.act == 1u) v = (pre > T[p.tOff + j] && pre > 0.0) ? pre : 0.0;
        O[p.oOff + (r0 + tid) * p.ldo + j] = v;
    }
}
