#version 450
#extension GL_GOOGLE_include_directive : require
// RoPE on x [rows, heads·headDim]; row r sits at position start + r. Pairs (i, i + rotaryDim/2)
// (rotate-half) or (2i, 2i+1) (interleaved); dimensions past rotaryDim are copied. cos and sin come
// from a host-computed table [position][rotaryDim/2][2], so the angles match the CPU reference
// exactly (GPU sin/cos lose accuracy at large arguments). INVERSE rotates by −θ: the rotation's
// transpose, which is RoPE's backward. The `packed` variant (sequences packed as rows) reads each
// row's position from binding 3 instead.
// variant: packed -DPACKED=1
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint INVERSE = 0;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) readonly buffer TBuf { float T[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OBuf { float O[]; };
#ifdef PACKED
layout(std430, set = 0, binding = 3) readonly buffer PosBuf { uint POS[]; };
#endif
layout(push_constant) uniform Push { uint count, headDim, rotaryDim, interleaved, start, xOff, oOff, width; } p;

#include "common.glsl"

void main() {
    uint e = flatIndex();
    if (e >= p.count) return;
    uint r = e / p.width, c = e % p.width;
    uint dd = c % p.headDim, head0 = c - dd;
    float x = X[p.xOff + e];
    if (dd >= p.rotaryDim) { O[p.oOff + e] = x; return; }
    uint half_ = p.rotaryDim / 2;
    uint i, a, b;
    if (p.interleaved != 0u) { i = dd / 2; a = 2 * i; b = a + 1; }
    else { i = dd % half_; a = i; b = i + half_; }
#ifdef PACKED
    uint position = POS[r];
#else
    uint position = p.start + r;
#endif
    uint t = (position * half_ + i) * 2;
    float cs = T[t], sn = INVERSE != 0u ? -T[t + 1] : T[t + 1];
    uint rowBase = p.xOff + r * p.width + head0;
    float xa = X[rowBase + a], xb = X[rowBase + b];
    O[p.oOff + e] = (dd == a) ? xa * cs - xb * sn : xb * cs + xa * sn;
}
