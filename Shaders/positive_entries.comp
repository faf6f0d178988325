#version 450
#extension GL_GOOGLE_include_directive : require
// The positive entries of rows X [rows, width], compacted in index order so that an SAE's
// activations come back without their zeros. Row r of the output (stride 1 + 2·limit words):
// the row's count of positive entries, then (index, value) pairs for the first min(count, limit)
// of them; indices and the count as uint bits. The host reads a row whose count exceeds the
// limit from X itself. One workgroup per row; each block of 256 entries finds every entry's
// place by a prefix sum over the block's flags in shared memory.
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, set = 0, binding = 1) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, width, xOff, limit; } p;

#include "common.glsl"

shared uint scan[256];

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;  // uniform across the workgroup
    uint tid = gl_LocalInvocationID.x, base = p.xOff + row * p.width, out_ = row * (1u + 2u * p.limit);
    uint written = 0u;
    for (uint block = 0u; block < p.width; block += 256u) {
        uint j = block + tid;
        float v = j < p.width ? X[base + j] : 0.0;
        uint flag = v > 0.0 ? 1u : 0u;
        scan[tid] = flag;
        barrier();
        // Inclusive prefix sum of the block's flags (Hillis–Steele).
        for (uint offset = 1u; offset < 256u; offset <<= 1) {
            uint add = tid >= offset ? scan[tid - offset] : 0u;
            barrier();
            scan[tid] += add;
            barrier();
        }
        uint at = written + scan[tid] - flag;
        if (flag == 1u && at < p.limit) {
            O[out_ + 1u + 2u * at] = uintBitsToFloat(j);
            O[out_ + 2u + 2u * at] = v;
        }
        written += scan[255];
        barrier();  // scan is rewritten by the next block
    }
    if (tid == 0u) O[out_] = uintBitsToFloat(written);
}
