// Dequantising one element of a GGUF block (llama.cpp's block layouts and float operations, as
// Sources/LanternCore/QuantBlocks.swift). Included by weights.glsl when QTYPE is defined:
// 1 Q8_0, 2 Q4_0, 3 Q4_1, 4 Q5_0, 5 Q5_1, 6 Q4_K, 7 Q5_K, 8 Q6_K. Blocks start at even byte
// addresses (every block size is even), so f16 fields never straddle a 32-bit word.

uint wByte(uint b) { return (W[b >> 2] >> ((b & 3u) << 3)) & 0xffu; }
int wInt8(uint b) { return bitfieldExtract(int(wByte(b)), 0, 8); }
float wHalf(uint b) { return unpackHalf2x16((W[b >> 2] >> ((b & 2u) << 3)) & 0xffffu).x; }

// The low nibble of byte `b` for elements 0..<16 of a 32-element block, the high one for 16..<32.
uint nibble32(uint b, uint i) {
    uint v = wByte(b + (i & 15u));
    return i < 16u ? (v & 15u) : (v >> 4);
}

// Bit i of the 32 fifth bits stored at byte `b`, shifted to bit 4.
uint fifthBit(uint b, uint i) { return ((wByte(b + (i >> 3)) >> (i & 7u)) & 1u) << 4; }

// The 6-bit scale (x) and min (y) of sub-block j of a Q4_K / Q5_K block, packed at byte `b`.
uvec2 kScaleMin(uint b, uint j) {
    if (j < 4u) return uvec2(wByte(b + j) & 63u, wByte(b + j + 4u) & 63u);
    uint s = (wByte(b + j + 4u) & 15u) | ((wByte(b + j - 4u) >> 6) << 4);
    uint m = (wByte(b + j + 4u) >> 4) | ((wByte(b + j) >> 6) << 4);
    return uvec2(s, m);
}

#if QTYPE <= 5
const uint QK = 32;
#else
const uint QK = 256;
#endif

#if QTYPE == 1
const uint QB = 34;
float dequantElement(uint b, uint i) { return float(wInt8(b + 2u + i)) * wHalf(b); }
#elif QTYPE == 2
const uint QB = 18;
float dequantElement(uint b, uint i) { return float(int(nibble32(b + 2u, i)) - 8) * wHalf(b); }
#elif QTYPE == 3
const uint QB = 20;
float dequantElement(uint b, uint i) { return float(nibble32(b + 4u, i)) * wHalf(b) + wHalf(b + 2u); }
#elif QTYPE == 4
const uint QB = 22;
float dequantElement(uint b, uint i) {
    return float(int(nibble32(b + 6u, i) | fifthBit(b + 2u, i)) - 16) * wHalf(b);
}
#elif QTYPE == 5
const uint QB = 24;
float dequantElement(uint b, uint i) {
    return float(nibble32(b + 8u, i) | fifthBit(b + 4u, i)) * wHalf(b) + wHalf(b + 2u);
}
#elif QTYPE == 6 || QTYPE == 7
// Q4_K: d, dmin, scales[12], qs[128]; Q5_K: d, dmin, scales[12], qh[32], qs[128].
// Element i: pair j = i / 64 of sub-blocks 2j (low nibbles of qs[32j ..]) and 2j + 1 (high ones).
#if QTYPE == 6
const uint QB = 144;
const uint QS = 16;
#else
const uint QB = 176;
const uint QS = 48;
#endif
float dequantElement(uint b, uint i) {
    uint l = i & 63u, sub = i >> 5;
    uint v = wByte(b + QS + 32u * (i >> 6) + (l & 31u));
    uint q = l < 32u ? (v & 15u) : (v >> 4);
#if QTYPE == 7
    q += ((wByte(b + 16u + (l & 31u)) >> sub) & 1u) << 4;
#endif
    uvec2 sm = kScaleMin(b + 4u, sub);
    float d = wHalf(b) * float(sm.x), m = wHalf(b + 2u) * float(sm.y);
    return d * float(q) - m;
}
#elif QTYPE == 8
// Q6_K: ql[128], qh[64], int8 scales[16], f16 d. Two halves of 128; in a half, group g = t / 32
// takes low (g < 2) or high nibbles of ql[l + 32 (g & 1)] and bits 2g, 2g + 1 of qh[l].
const uint QB = 210;
float dequantElement(uint b, uint i) {
    uint h = i >> 7, t = i & 127u, g = t >> 5, l = t & 31u;
    uint v = wByte(b + 64u * h + l + 32u * (g & 1u));
    uint lo = g < 2u ? (v & 15u) : (v >> 4);
    uint hi = (wByte(b + 128u + 32u * h + l) >> (2u * g)) & 3u;
    int q = int(lo | (hi << 4)) - 32;
    float sc = float(wInt8(b + 192u + 8u * h + (l >> 4) + 2u * g));
    return wHalf(b + 208u) * sc * float(q);
}
#else
#error "unknown QTYPE"
#endif
