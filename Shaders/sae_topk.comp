#version 450
#extension GL_GOOGLE_include_directive : require
// TopK in place over rows of SAE pre-activations O [rows, width] (sae_encode's act 2 output):
// the k largest entries of each row keep relu(value), every other entry becomes 0. The same set as
// the host's `LogitStatistics.largest` (ties to the lower index, -0 equal to +0), so the device and
// the host agree bit for bit on the same pre-activations.
// One workgroup per row. The k-th largest value is found by its order-preserving 32-bit key, one
// bit at a time (32 counting passes, independent of k); when entries tie at that value, a binary
// search over the index finds the lowest-indexed ones that complete the k.
// variant: subgroup -DSUBGROUP=1
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer OBuf { float O[]; };
layout(push_constant) uniform Push { uint rows, width, off, k; } p;

#include "common.glsl"

shared uint counter;

// Each subgroup's counts summed first (one shared atomic per subgroup instead of per invocation).
#ifdef SUBGROUP
#define SUBGROUP_SUM(c) c = subgroupAdd(c); if (gl_SubgroupInvocationID != 0u) c = 0u;
#else
#define SUBGROUP_SUM(c)
#endif

// Larger floats have larger keys; -0 and +0 share one.
uint orderKey(float v) {
    uint u = floatBitsToUint(v == 0.0 ? 0.0 : v);
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

// How many entries of the row satisfy `pred`, summed over the workgroup (every invocation gets it).
#define COUNT_WHERE(result, pred)                                     \
    {                                                                 \
        if (tid == 0u) counter = 0u;                                  \
        barrier();                                                    \
        uint c_ = 0u;                                                 \
        for (uint j = tid; j < p.width; j += 256u) {                  \
            uint key = orderKey(O[base + j]);                         \
            if (pred) c_++;                                           \
        }                                                             \
        SUBGROUP_SUM(c_)                                              \
        if (c_ > 0u) atomicAdd(counter, c_);                          \
        barrier();                                                    \
        result = counter;                                             \
        barrier();                                                    \
    }

void main() {
    uint row = flatGroup();
    if (row >= p.rows) return;  // uniform across the workgroup
    uint tid = gl_LocalInvocationID.x, base = p.off + row * p.width;
    uint k = min(p.k, p.width);

    // threshold: the largest key that at least k entries reach (the k-th largest key).
    uint threshold = 0u;
    for (int bit = 31; bit >= 0; bit--) {
        uint candidate = threshold | (1u << uint(bit)), reach;
        COUNT_WHERE(reach, key >= candidate)
        if (reach >= k) threshold = candidate;
    }
    uint above, equal;
    COUNT_WHERE(above, key > threshold)
    COUNT_WHERE(equal, key == threshold)
    // The tied entries with index below `limit` complete the k.
    uint need = k - above, limit = p.width;
    if (equal > need) {
        uint lo = 1u, hi = p.width;  // the smallest limit with `need` tied entries below it
        while (lo < hi) {
            uint mid = (lo + hi) / 2u, below;
            COUNT_WHERE(below, key == threshold && j < mid)
            if (below >= need) hi = mid; else lo = mid + 1u;
        }
        limit = lo;
    }
    for (uint j = tid; j < p.width; j += 256u) {
        float v = O[base + j];
        uint key = orderKey(v);
        bool kept = k > 0u && (key > threshold || (key == threshold && j < limit));
        O[base + j] = kept ? max(v, 0.0) : 0.0;
    }
}
