#version 450
#extension GL_GOOGLE_include_directive : require
// GELU without a gate (GPT-2, GPT-NeoX): the tanh approximation (ACT 0) or the exact x·Φ(x)
// (ACT 1), 0.5·x·erfc(−x/√2) with `erfcApprox` (common.glsl), which keeps its relative accuracy
// where 1 + erf would cancel (x ≪ 0).
layout(constant_id = 0) const uint ACT = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, xOff, oOff; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    float x = X[p.xOff + e];
    float a;
    if (ACT == 0u) a = 0.5 * x * (1.0 + tanhStable(0.7978845608 * (x + 0.044715 * x * x * x)));
    else a = 0.5 * x * erfcApprox(-0.7071067812 * x);
    O[p.oOff + e] = a;
}
