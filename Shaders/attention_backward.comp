#version 450
#extension GL_GOOGLE_include_directive : require
// The backward of `attention` (attention.comp) with respect to q, k and v, in three dispatches of
// this shader (MODE):
//   0: one invocation per (head h, query i): the pattern row P (recomputed: scale, softcap, causal
//      mask, window) into PS, and dS = P ∘ (dP − Σ P ∘ dP) with dP = dz · vᵀ, times the softcap's
//      derivative and the scale, into DS: the gradient of the raw q·k products. Both [heads, n, keys].
//   1: one invocation per element of dq [n, heads·D]: Σ_j dS[h, i, j] · k[j, kvh].
//   2: one invocation per element of dk and dv [keys, kvHeads·D]: over the query heads of its KV
//      head and every query, Σ dS · q and Σ P · dz.
// Every sum runs in one invocation in index order, as the CPU kernel's do.
layout(constant_id = 0) const uint MODE = 0;
layout(local_size_x_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer QBuf { float Q[]; };
layout(std430, set = 0, binding = 1) readonly buffer KBuf { float K[]; };
layout(std430, set = 0, binding = 2) readonly buffer VBuf { float V[]; };
layout(std430, set = 0, binding = 3) readonly buffer DZBuf { float DZ[]; };
layout(std430, set = 0, binding = 4) buffer PBuf { float PS[]; };
layout(std430, set = 0, binding = 5) buffer SBuf { float DS[]; };
layout(std430, set = 0, binding = 6) writeonly buffer O1Buf { float O1[]; };
layout(std430, set = 0, binding = 7) writeonly buffer O2Buf { float O2[]; };
layout(push_constant) uniform Push {
    uint n, keyCount, queryStart, heads, kvHeads, headDim, window, qOff, kOff, vOff, dzOff;
    float scale, softcap;
} p;

#include "common.glsl"

bool visible(uint i, uint j) {
    uint pos = p.queryStart + i;
    return j <= pos && (p.window == 0u || pos - j < p.window);
}

float dotQK(uint i, uint h, uint j, uint kvh) {
    uint qb = p.qOff + i * p.heads * p.headDim + h * p.headDim, kb = p.kOff + j * p.kvHeads * p.headDim + kvh * p.headDim;
    float s = 0.0;
    for (uint d = 0; d < p.headDim; d++) s += Q[qb + d] * K[kb + d];
    return s * p.scale;
}

void rows(uint e) {
    if (e >= p.heads * p.n) return;
    uint h = e / p.n, i = e % p.n, kvh = h / (p.heads / p.kvHeads);
    uint row = (h * p.n + i) * p.keyCount;
    float top = NEG_INF;
    for (uint j = 0; j < p.keyCount; j++) {
        if (!visible(i, j)) continue;
        float s = dotQK(i, h, j, kvh);
        if (p.softcap > 0.0) s = p.softcap * tanhStable(s / p.softcap);
        DS[row + j] = s;  // the capped score, for now
        top = max(top, s);
    }
    float total = 0.0;
    for (uint j = 0; j < p.keyCount; j++) {
        float e_ = visible(i, j) ? exp(DS[row + j] - top) : 0.0;
        PS[row + j] = e_;
        total += e_;
    }
    uint zb = p.dzOff + i * p.heads * p.headDim + h * p.headDim;
    float pdp = 0.0;
    for (uint j = 0; j < p.keyCount; j++) {
        float prob = PS[row + j] / total;
        PS[row + j] = prob;
        if (prob == 0.0) continue;
        uint vb = p.vOff + j * p.kvHeads * p.headDim + kvh * p.headDim;
        float dp = 0.0;
        for (uint d = 0; d < p.headDim; d++) dp += DZ[zb + d] * V[vb + d];
        pdp += prob * dp;
        DS[row + j] = dp;  // dP, for now (the capped score is not needed past here)
    }
    for (uint j = 0; j < p.keyCount; j++) {
        float prob = PS[row + j];
        if (prob == 0.0) { DS[row + j] = 0.0; continue; }
        float ds = prob * (DS[row + j] - pdp);
        if (p.softcap > 0.0) {
            float t = tanhStable(dotQK(i, h, j, kvh) / p.softcap);
            ds *= 1.0 - t * t;
        }
        DS[row + j] = ds * p.scale;
    }
}

void queryGradient(uint e) {
    uint width = p.heads * p.headDim;
    if (e >= p.n * width) return;
    uint i = e / width, c = e % width, h = c / p.headDim, d = c % p.headDim, kvh = h / (p.heads / p.kvHeads);
    uint row = (h * p.n + i) * p.keyCount;
    float s = 0.0;
    for (uint j = 0; j < p.keyCount; j++) s += DS[row + j] * K[p.kOff + j * p.kvHeads * p.headDim + kvh * p.headDim + d];
    O1[e] = s;
}

void keyValueGradients(uint e) {
    uint width = p.kvHeads * p.headDim;
    if (e >= p.keyCount * width) return;
    uint j = e / width, c = e % width, kvh = c / p.headDim, d = c % p.headDim, group = p.heads / p.kvHeads;
    float dk = 0.0, dv = 0.0;
    for (uint h = kvh * group; h < (kvh + 1) * group; h++) {
        for (uint i = 0; i < p.n; i++) {
            uint at = (h * p.n + i) * p.keyCount + j, col = i * p.heads * p.headDim + h * p.headDim + d;
            dk += DS[at] * Q[p.qOff + col];
            dv += PS[at] * DZ[p.dzOff + col];
        }
    }
    O1[e] = dk;
    O2[e] = dv;
}

void main() {
    uint e = flatIndex();
    if (MODE == 0u) rows(e);
    else if (MODE == 1u) queryGradient(e);
    else keyValueGradients(e);
}
