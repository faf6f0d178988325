#version 450
#extension GL_GOOGLE_include_directive : require
// out = a + b, where b is either the same size as a or one row broadcast to every row of a.
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float A[]; };
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float B[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, width, broadcast, aOff, bOff, oOff; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    uint be = p.broadcast != 0u ? e % p.width : e;
    O[p.oOff + e] = A[p.aOff + e] + B[p.bOff + be];
}
