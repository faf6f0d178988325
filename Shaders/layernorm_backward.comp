#version 450
#extension GL_GOOGLE_include_directive : require
// The backward of LayerNorm (layernorm.comp) with respect to x, one workgroup per row:
// dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ∘ x̂)) with ĝ = w ∘ dy, x̂ = (x − mean) · r, r = 1/√(var + eps)
// (biased variance of the centred row); with `frozen` the scale r is held and the last term goes
// (the centring is linear and stays). Weight f32.
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float W[]; };
layout(std430, set = 0, binding = 2) readonly buffer DYBuf { float DY[]; };
layout(std430, set = 0, binding = 3) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, d, xOff, wOff, dyOff, frozen; float eps; } p;

#include "common.glsl"

shared float red[gl_WorkGroupSize.x];

// The sum of `v` over the workgroup (a shared-memory tree), every invocation getting it.
float workgroupSum(float v) {
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float total = red[0];
    barrier();
    return total;
}

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;
    uint tid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    uint xb = p.xOff + row * p.d, yb = p.dyOff + row * p.d;
    float sum = 0.0;
    for (uint i = tid; i < p.d; i += size) sum += X[xb + i];
    float mean = workgroupSum(sum) / float(p.d);
    float squares = 0.0;
    for (uint i = tid; i < p.d; i += size) { float c = X[xb + i] - mean; squares += c * c; }
    float r = 1.0 / sqrt(workgroupSum(squares) / float(p.d) + p.eps);
    float g = 0.0, gx = 0.0;
    for (uint i = tid; i < p.d; i += size) {
        float gh = W[p.wOff + i] * DY[yb + i];
        g += gh;
        gx += gh * (X[xb + i] - mean) * r;
    }
    float meanG = workgroupSum(g) / float(p.d);
    float meanGX = p.frozen != 0u ? 0.0 : workgroupSum(gx) / float(p.d);
    for (uint i = tid; i < p.d; i += size) {
        float gh = W[p.wOff + i] * DY[yb + i], xh = (X[xb + i] - mean) * r;
        O[row * p.d + i] = r * (gh - meanG - xh * meanGX);
    }
}
