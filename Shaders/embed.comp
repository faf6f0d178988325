#version 450
#extension GL_GOOGLE_include_directive : require
// out[i, :] = table[tokens[i], :] · scale, table in DTYPE or a quantised variant's type (tOff in
// bytes then); ids are checked on the host.
// variant: q8_0 -DQTYPE=1
// variant: q4_0 -DQTYPE=2
// variant: q4_1 -DQTYPE=3
// variant: q5_0 -DQTYPE=4
// variant: q5_1 -DQTYPE=5
// variant: q4_K -DQTYPE=6
// variant: q5_K -DQTYPE=7
// variant: q6_K -DQTYPE=8
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer TokBuf { uint Tok[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint count, width, tOff, oOff; float scale; uint first, rows; } p;

#include "common.glsl"
#include "weights.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    uint r = e / p.width, c = e % p.width;
    // The table's rows first ..< first + rows are in W (a table split across buffers: one dispatch per part).
    uint t = Tok[r] - p.first;
    if (Tok[r] < p.first || t >= p.rows) return;
    O[p.oOff + e] = weightAt(p.tOff, p.width, t, c) * p.scale;
}
