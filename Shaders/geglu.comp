#version 450
#extension GL_GOOGLE_include_directive : require
// Gated activations: out = act(gate) · up with act = gelu_tanh (ACT 0, GeGLU) or silu (ACT 1, SwiGLU).
layout(constant_id = 0) const uint ACT = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer GBuf { float G[]; };
layout(std430, set = 0, binding = 1) readonly buffer UBuf { float U[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, gOff, uOff, oOff; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    float x = G[p.gOff + e];
    float a;
    if (ACT == 0u) a = 0.5 * x * (1.0 + tanhStable(0.7978845608 * (x + 0.044715 * x * x * x)));
    else a = x / (1.0 + exp(-x));
    O[p.oOff + e] = a * U[p.uOff + e];
}
