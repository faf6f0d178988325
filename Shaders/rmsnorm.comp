#version 450
#extension GL_GOOGLE_include_directive : require
// variant: subgroup -DSUBGROUP=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// Row-wise RMSNorm: out = x · 1/sqrt(mean(x²) + eps) · g, with g = 1 + w (Gemma) or w (Llama).
// One workgroup per row. The sum of squares is reduced with subgroupAdd and one shared-memory
// slot per subgroup (the `subgroup` variant, where the device has subgroup arithmetic), else with
// a shared-memory tree. Weight in DTYPE.
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, d, xOff, wOff, oOff, addOne; float eps; } p;

#include "common.glsl"
#include "weights.glsl"

shared float red[gl_WorkGroupSize.x];

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint base = p.xOff + row * p.d;
    float ss = 0.0;
    for (uint i = tid; i < p.d; i += size) { float v = X[base + i]; ss += v * v; }
#ifdef SUBGROUP
    ss = subgroupAdd(ss);
    if (gl_SubgroupInvocationID == 0u) red[gl_SubgroupID] = ss;
    barrier();
    float total = 0.0;
    for (uint g = 0; g < gl_NumSubgroups; g++) total += red[g];
#else
    red[tid] = ss;
    barrier();
    for (uint s = size / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float total = red[0];
#endif
    float inv = 1.0 / sqrt(total / float(p.d) + p.eps);
    for (uint i = tid; i < p.d; i += size) {
        float w = loadWeight(p.wOff + i);
        float g = p.addOne != 0u ? 1.0 + w : w;
        O[p.oOff + row * p.d + i] = X[base + i] * inv * g;
    }
}
