#version 450
#extension GL_GOOGLE_include_directive : require
// The backward of `matmul` (matmul.comp) with respect to x: dx[n, k] = dy[n, m] · w[m, k], w in
// f32 / f16 / bf16 (DTYPE) or, in the variants below, a GGUF block-quantised type decoded in the
// shader (wOff in bytes), never widened into a copy. One invocation per output in 16 × 16 tiles;
// the m dimension is walked in slices of 16 through shared memory, and a slice whose dy values are
// all zero for the tile's rows is skipped whole (a logit gradient is zero but for a few columns of
// a 262k-row unembedding). A weight split across buffers by rows is one dispatch per part: dy's
// columns firstRow ..< firstRow + m (row stride ldy), each part after the first adding to dx.
// variant: q8_0 -DQTYPE=1
// variant: q4_0 -DQTYPE=2
// variant: q4_1 -DQTYPE=3
// variant: q5_0 -DQTYPE=4
// variant: q5_1 -DQTYPE=5
// variant: q4_K -DQTYPE=6
// variant: q5_K -DQTYPE=7
// variant: q6_K -DQTYPE=8
layout(constant_id = 0) const uint DTYPE = 0;
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) readonly buffer DYBuf { float DY[]; };
layout(std430, set = 0, binding = 1) readonly buffer WBuf { uint W[]; };
layout(std430, set = 0, binding = 2) buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint n, k, m, dyOff, wOff, firstRow, ldy, accumulate; } p;

#include "common.glsl"
#include "weights.glsl"

shared float ys[16][16];
shared float ws[16][16];
shared uint live;

void main() {
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint c = gl_WorkGroupID.x * 16 + tx, r = gl_WorkGroupID.y * 16 + ty;
    float acc = 0.0;
    for (uint j0 = 0; j0 < p.m; j0 += 16) {
        if (tx == 0u && ty == 0u) live = 0u;
        barrier();
        float y = (r < p.n && j0 + tx < p.m) ? DY[p.dyOff + r * p.ldy + p.firstRow + j0 + tx] : 0.0;
        ys[ty][tx] = y;
        if (y != 0.0) atomicOr(live, 1u);
        barrier();
        if (live != 0u) {  // the same value in every invocation of the group: uniform control flow
            uint col = gl_WorkGroupID.x * 16 + tx;
            ws[ty][tx] = (j0 + ty < p.m && col < p.k) ? weightAt(p.wOff, p.k, j0 + ty, col) : 0.0;
            barrier();
            for (uint jj = 0; jj < 16; jj++) acc += ys[ty][jj] * ws[jj][tx];
        }
        barrier();
    }
    if (r < p.n && c < p.k) {
        uint at = r * p.k + c;
        O[at] = p.accumulate != 0u ? O[at] + acc : acc;
    }
}
