#version 450
#extension GL_GOOGLE_include_directive : require
// out[i, :] = table[tokens[i], :] · scale, table in DTYPE (ids are checked on the host).
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer TokBuf { uint Tok[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, width, tOff, oOff; float scale; } p;

#include "common.glsl"
#include "weights.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    uint r = e / p.width, c = e % p.width;
    O[p.oOff + e] = loadWeight(p.tOff + Tok[r] * p.width + c) * p.scale;
}
