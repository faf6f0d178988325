#version 450
#extension GL_GOOGLE_include_directive : require
// Fused SAE encoder: out[r, j] = act(x[r, :] · enc[j, :] + bias[j]) with enc [d_sae, d_in] in DTYPE
// (or a quantised variant's type), accumulated in f32. act 0: ReLU; 1: JumpReLU (pre > threshold[j]
// and pre > 0, else 0); 2: none (the pre-activations, for TopK's selection on the host).
// Output rows have stride ldo (a split encoder runs once per part). One workgroup per feature j (flat over x, y) and block of up to ROWS rows (z); invocations
// stride over d_in, then a shared-memory reduction.
// variant: q8_0 -DQTYPE=1
// variant: q4_0 -DQTYPE=2
// variant: q4_1 -DQTYPE=3
// variant: q5_0 -DQTYPE=4
// variant: q5_1 -DQTYPE=5
// variant: q4_K -DQTYPE=6
// variant: q5_K -DQTYPE=7
// variant: q6_K -DQTYPE=8
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
shared float red[ROWS * SIZE];

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
    for (uint r = 0; r < rows; r++) red[r * SIZE + tid] = acc[r];
    barrier();
    for (uint s = SIZE / 2; s > 0; s >>= 1) {
        if (tid < s) for (uint r = 0; r < rows; r++) red[r * SIZE + tid] += red[r * SIZE + tid + s];
        barrier();
    }
    if (tid < rows) {
        float pre = red[tid * SIZE] + B[p.bOff + j];  // bOff, tOff, oOff: the part's first feature
        float v = pre;
        if (p.act == 0u) v = max(pre, 0.0);
        else if (p.act == 1u) v = (pre > T[p.tOff + j] && pre > 0.0) ? pre : 0.0;
        O[p.oOff + (r0 + tid) * p.ldo + j] = v;
    }
}
