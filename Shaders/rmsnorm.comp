#version 450
#extension GL_GOOGLE_include_directive : require
// Row-wise RMSNorm: out = x · 1/sqrt(mean(x²) + eps) · g, with g = 1 + w (Gemma) or w (Llama).
// One workgroup per row; the sum of squares is reduced in shared memory. Weight in DTYPE.
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
    red[tid] = ss;
    barrier();
    for (uint s = size / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float inv = 1.0 / sqrt(red[0] / float(p.d) + p.eps);
    for (uint i = tid; i < p.d; i += size) {
        float w = loadWeight(p.wOff + i);
        float g = p.addOne != 0u ? 1.0 + w : w;
        O[p.oOff + row * p.d + i] = X[base + i] * inv * g;
    }
}
