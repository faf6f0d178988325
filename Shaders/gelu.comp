#version 450
#extension GL_GOOGLE_include_directive : require
// GELU without a gate (GPT-2, GPT-NeoX): the tanh approximation (ACT 0) or the exact x·Φ(x)
// (ACT 1). GLSL has no erf: Φ comes from erfc by the Chebyshev-fitted exponential of Numerical
// Recipes (relative error < 1.2e-7 everywhere), so 0.5·x·erfc(−x/√2) keeps its relative accuracy
// where 1 + erf would cancel (x ≪ 0).
layout(constant_id = 0) const uint ACT = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, xOff, oOff; } p;

#include "common.glsl"

float erfcApprox(float x) {
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
              + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? r : 2.0 - r;
}

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    float x = X[p.xOff + e];
    float a;
    if (ACT == 0u) a = 0.5 * x * (1.0 + tanhStable(0.7978845608 * (x + 0.044715 * x * x * x)));
    else a = 0.5 * x * erfcApprox(-0.7071067812 * x);
    O[p.oOff + e] = a;
}
