#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise maps with one parameter: MODE 0 scale (x · v), MODE 1 softcap (v · tanh(x / v)).
layout(constant_id = 0) const uint MODE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, xOff, oOff; float v; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    float x = X[p.xOff + e];
    O[p.oOff + e] = MODE == 0u ? x * p.v : p.v * tanhStable(x / p.v);
}
