#version 450
#extension GL_GOOGLE_include_directive : require
// The backward of the elementwise ops, with dy the gradient of their output (MODE):
//   0 gegluTanh: d gate = dy · up · gelu′(gate), d up = dy · gelu(gate) (tanh form);
//   1 swiglu:    d gate = dy · up · silu′(gate), d up = dy · silu(gate);
//   2 softcap:   dx = dy · (1 − tanh²(x / cap)) (x in the gate binding; no up, no second output);
//   3 gelu (tanh form), 4 gelu (exact, x·Φ(x)): dx = dy · gelu′(x), likewise.
layout(constant_id = 0) const uint MODE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer GBuf { float G[]; };
layout(std430, set = 0, binding = 1) readonly buffer UBuf { float U[]; };
layout(std430, set = 0, binding = 2) readonly buffer DYBuf { float DY[]; };
layout(std430, set = 0, binding = 3) writeonly buffer DGBuf { float DG[]; };
layout(std430, set = 0, binding = 4) writeonly buffer DUBuf { float DU[]; };
layout(push_constant) uniform Push { uint count, gOff, uOff, dyOff; float cap; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    float x = G[p.gOff + e], dy = DY[p.dyOff + e];
    if (MODE == 2u) {
        float t = tanhStable(x / p.cap);
        DG[e] = dy * (1.0 - t * t);
        return;
    }
    const float c = 0.7978845608028654;  // √(2/π)
    if (MODE == 3u) {
        float t = tanhStable(c * (x + 0.044715 * x * x * x));
        DG[e] = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x));
        return;
    }
    if (MODE == 4u) {
        // Φ(x) + x·φ(x), φ the standard normal density.
        DG[e] = dy * (0.5 * erfcApprox(-0.7071067811865476 * x) + x * exp(-0.5 * x * x) * 0.3989422804014327);
        return;
    }
    float up = U[p.uOff + e], value, slope;
    if (MODE == 0u) {
        float t = tanhStable(c * (x + 0.044715 * x * x * x));
        value = 0.5 * x * (1.0 + t);
        slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
    } else {
        float s = 1.0 / (1.0 + exp(-x));
        value = x * s;
        slope = s * (1.0 + x * (1.0 - s));
    }
    DG[e] = dy * up * slope;
    DU[e] = dy * value;
}
