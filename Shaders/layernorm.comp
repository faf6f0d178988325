#version 450
#extension GL_GOOGLE_include_directive : require
// variant: subgroup -DSUBGROUP=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// Row-wise LayerNorm (GPT-2, GPT-NeoX): out = (x − mean) / sqrt(var + eps) · w + b, the biased
// variance of the centred row (two reductions, as torch.nn.LayerNorm: no cancellation for rows far
// from zero). One workgroup per row; each sum is reduced as in rmsnorm.comp. Weight and bias f32.
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float W[]; };
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float B[]; };
layout(std430, set = 0, binding = 3) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, d, xOff, wOff, bOff, oOff; float eps; } p;

#include "common.glsl"

shared float red[gl_WorkGroupSize.x];

// The sum of `v` over the workgroup, every invocation getting it.
float workgroupSum(float v) {
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
#ifdef SUBGROUP
    v = subgroupAdd(v);
    if (gl_SubgroupInvocationID == 0u) red[gl_SubgroupID] = v;
    barrier();
    float total = 0.0;
    for (uint g = 0; g < gl_NumSubgroups; g++) total += red[g];
#else
    red[tid] = v;
    barrier();
    for (uint s = size / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float total = red[0];
#endif
    barrier();  // `red` is reused by the next sum
    return total;
}

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint base = p.xOff + row * p.d;
    float s = 0.0;
    for (uint i = tid; i < p.d; i += size) s += X[base + i];
    float mean = workgroupSum(s) / float(p.d);
    float ss = 0.0;
    for (uint i = tid; i < p.d; i += size) { float v = X[base + i] - mean; ss += v * v; }
    float inv = 1.0 / sqrt(workgroupSum(ss) / float(p.d) + p.eps);
    for (uint i = tid; i < p.d; i += size) {
        O[p.oOff + row * p.d + i] = (X[base + i] - mean) * inv * W[p.wOff + i] + B[p.bOff + i];
    }
}
