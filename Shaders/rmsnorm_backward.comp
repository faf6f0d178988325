#version 450
#extension GL_GOOGLE_include_directive : require
// The backward of RMSNorm (rmsnorm.comp) with respect to x, one workgroup per row:
// dx = r · (g ∘ dy) − x · r³ · Σ(g ∘ dy ∘ x) / d with r = 1/√(mean(x²) + eps) and g = 1 + w (Gemma)
// or w; with `frozen` the scale r is held (circuit tracing's frozen norm): dx = r · (g ∘ dy).
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) readonly buffer DYBuf { float DY[]; };
layout(std430, set = 0, binding = 3) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, d, xOff, wOff, dyOff, addOne, frozen; float eps; } p;

#include "common.glsl"
#include "weights.glsl"

shared float squares[gl_WorkGroupSize.x];
shared float mixed[gl_WorkGroupSize.x];

float gain(uint i) {
    float w = loadWeight(p.wOff + i);
    return p.addOne != 0u ? 1.0 + w : w;
}

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint xb = p.xOff + row * p.d, yb = p.dyOff + row * p.d;
    float ss = 0.0, gdx = 0.0;
    for (uint i = tid; i < p.d; i += size) {
        float x = X[xb + i];
        ss += x * x;
        gdx += gain(i) * DY[yb + i] * x;
    }
    squares[tid] = ss;
    mixed[tid] = gdx;
    barrier();
    for (uint s = size / 2; s > 0; s >>= 1) {
        if (tid < s) { squares[tid] += squares[tid + s]; mixed[tid] += mixed[tid + s]; }
        barrier();
    }
    float r = 1.0 / sqrt(squares[0] / float(p.d) + p.eps);
    float correction = p.frozen != 0u ? 0.0 : r * r * r * mixed[0] / float(p.d);
    for (uint i = tid; i < p.d; i += size) O[row * p.d + i] = r * gain(i) * DY[yb + i] - X[xb + i] * correction;
}
