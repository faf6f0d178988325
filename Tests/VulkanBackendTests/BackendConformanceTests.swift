import CPUBackend
import Foundation
import LanternCore
import Models
import VulkanBackend
import XCTest

/// Every op of the `Backend` protocol × the weight dtypes it takes × ragged shapes, on every backend
/// this machine has, against the plain `Reference` (CPUBackend/Reference.swift and the SAE
/// references): one table, one loop. Backends: the CPU as it decodes, the CPU with widened weights
/// (the packed f32 panels traces and harvests use), the CPU without AMX where it has AMX, and Vulkan
/// (a GPU, or lavapipe) both direct and with staging copies and shared-memory reductions. As in the
/// other Vulkan tests, no Vulkan device is a failure unless LANTERN_SKIP_VULKAN=1 (then only the CPU
/// rows run), and a validation-layer message fails the test.
///
/// Shapes are ragged on purpose: 1 row, odd row counts on both sides of the CPU's thresholds (8 rows
/// for the packed GEMM, 16 for blocked attention and AMX, 48 for a GEMM block), widths that are not
/// multiples of 8, 16 or 32, row views at odd offsets. Weights in f16 / bf16 / GGUF blocks are
/// compared with the reference fed the same weights widened to f32 (`HostTensor.floats`, bit-exact
/// with llama.cpp's dequantisation), so only the order of f32 additions may differ.
///
/// Tolerance: max |Δ| ≤ tolerance · max |reference| over the output. Zero means bit-exact: ops that
/// round once per element (add, scale, transpose, copies, embedding lookups, reading weights back)
/// must give the reference's bits on every backend. Sums of k products get `sumTolerance(k)`;
/// RMSNorm and the transcendental ops (rope, attention's softmax, tanh, exp) 1e-5. The weight dtype
/// adds nothing: the reference sees the very values the backend decodes, so a wrong decode shows as
/// an error far above these (and "weight read back" checks the decode alone, bit for bit). On
/// lavapipe and the CPU the worst errors are ~1e-6 of max |reference| or 0 (printed per op, dtype
/// and backend); the tolerances leave room for GPUs' f32 exp / tanh / inversesqrt, which Vulkan
/// allows to be a few ulps off. Inputs come from `SeededGenerator` (SplitMix64), each row's from
/// its own seed; every failure names op, dtype, shape, backend, seed and max |Δ|.
final class BackendConformanceTests: XCTestCase {
    // MARK: The table

    /// One row: an op at one dtype and shape. `reference` and `run` give the same named outputs.
    struct Case: @unchecked Sendable {
        var op: String
        var dtype: String
        var shape: String
        var seed: UInt64
        var tolerance: Float
        var reference: () throws -> Outputs
        var run: (any Backend) throws -> Outputs
    }

    /// Sums of k products in another order: a few ulps of the larger terms, growing as √k.
    static func sumTolerance(_ k: Int) -> Float { 2e-6 * Float(k).squareRoot() + 2e-6 }
    static let transcendental: Float = 1e-5
    static let norm: Float = 1e-5

    static let floatTypes: [DType] = [.f32, .f16, .bf16]
    static let quantisedTypes: [DType] = DType.allCases.filter(\.isQuantised)

    /// `count` values uniform in [-scale, scale) from `seed`.
    static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    /// A weight [rows, k] stored in `dtype` (random blocks for GGUF types) and the f32 values it holds.
    static func weight(_ dtype: DType, rows: Int, k: Int, seed: UInt64) throws -> (HostTensor, [Float]) {
        let host = dtype.isQuantised
            ? QuantBytes(dtype, rows: rows, k: k, seed: seed).host("w", shape: [rows, k])
            : HostBytes(values(rows * k, seed: seed), dtype: dtype).host("w", shape: [rows, k], dtype: dtype)
        return (host, try host.floats())
    }

    typealias Outputs = [(String, [Float])]

    /// The table. Each row makes its inputs from its own seed (`make` is handed it), so a row's
    /// seed is all it takes to make them again.
    static let table: [Case] = {
        var cases: [Case] = []
        func add(_ op: String, _ dtype: String, _ shape: String, tolerance: Float,
                 _ make: (UInt64) throws -> (reference: () throws -> Outputs, run: (any Backend) throws -> Outputs)) {
            let seed = UInt64(cases.count + 1)
            do {
                let (reference, run) = try make(seed)
                cases.append(Case(op: op, dtype: dtype, shape: shape, seed: seed, tolerance: tolerance, reference: reference, run: run))
            } catch {
                cases.append(Case(op: op, dtype: dtype, shape: shape, seed: seed, tolerance: tolerance,
                                  reference: { throw error }, run: { _ in throw error }))
            }
        }
        func out(_ values: [Float]) -> Outputs { [("out", values)] }

        // Memory: f32 uploads, zeros, weights read back (dequantised) in every dtype, copyRows.
        for (rows, width) in [(1, 1), (3, 37), (17, 100)] {
            add("tensor", "f32", "\(rows)×\(width)", tolerance: 0) { seed in
                let x = values(rows * width, seed: seed)
                return ({ out(x) }, { b in out(try b.read(try b.tensor(x, shape: [rows, width]))) })
            }
            add("zeros", "f32", "\(rows)×\(width)", tolerance: 0) { _ in
                ({ out([Float](repeating: 0, count: rows * width)) }, { b in out(try b.read(try b.zeros(shape: [rows, width]))) })
            }
        }
        for dtype in floatTypes + quantisedTypes {
            let widths = dtype.isQuantised ? [dtype.blockSize, 3 * dtype.blockSize] : [1, 37]
            for (rows, width) in [(1, widths[0]), (5, widths[1])] {
                add("weight read back", "\(dtype)", "\(rows)×\(width)", tolerance: 0) { seed in
                    let (host, widened) = try weight(dtype, rows: rows, k: width, seed: seed)
                    return ({ out(widened) }, { b in out(try b.read(try b.weight(host))) })
                }
            }
        }
        for (rows, width, at, capacity) in [(1, 7, 0, 1), (3, 37, 5, 9), (17, 61, 2, 20)] {
            add("copyRows", "f32", "\(rows)×\(width) into \(capacity) rows at \(at)", tolerance: 0) { seed in
                let x = values(rows * width, seed: seed)
                var expected = [Float](repeating: 0, count: capacity * width)
                expected.replaceSubrange((at * width)..<((at + rows) * width), with: x)
                return ({ out(expected) }, { b in
                    let cache = try b.zeros(shape: [capacity, width])
                    try b.copyRows(try b.tensor(x, shape: [rows, width]), into: cache, at: at)
                    return out(try b.read(cache))
                })
            }
        }

        // embed: every table dtype; one-token and repeated-token lookups; a width of 1.
        for dtype in floatTypes + quantisedTypes {
            let widths = dtype.isQuantised ? [dtype.blockSize, 2 * dtype.blockSize] : [1, 37]
            for width in widths {
                for tokens: [Int32] in [[5], [0, 10, 3, 3, 7]] {
                    add("embed", "\(dtype)", "11×\(width), tokens \(tokens)", tolerance: 0) { seed in
                        let (host, table) = try weight(dtype, rows: 11, k: width, seed: seed)
                        return ({ out(Reference.embed(tokens, table: table, width: width, scale: 2.5)) },
                                { b in out(try b.read(try b.embed(tokens, table: try b.weight(host), scale: 2.5))) })
                    }
                }
            }
        }

        // matmul: x [n, k] · wᵀ, w [m, k] in every dtype, n on both sides of the CPU's 8-row
        // switch to the packed GEMM and its 48-row block; plus f32 weights made from floats
        // (SAE and transcoder matrices) and row views of x and w.
        let floatShapes = [(1, 37, 5), (3, 100, 67), (7, 33, 130), (8, 64, 9), (13, 257, 31), (17, 37, 1), (49, 96, 70), (1, 1, 1)]
        for dtype in floatTypes + quantisedTypes {
            let shapes = dtype.isQuantised
                ? [(1, dtype.blockSize, 5), (3, 3 * dtype.blockSize, 67), (9, dtype.blockSize, 13), (17, 2 * dtype.blockSize, 70)]
                : floatShapes
            for (n, k, m) in shapes {
                add("matmul", "\(dtype)", "n=\(n) k=\(k) m=\(m)", tolerance: sumTolerance(k)) { seed in
                    let x = values(n * k, seed: seed)
                    let (host, w) = try weight(dtype, rows: m, k: k, seed: seed + 1_000_000)
                    return ({ out(Reference.matmul(x, w, n: n, k: k, m: m)) },
                            { b in out(try b.read(try b.matmul(try b.tensor(x, shape: [n, k]), try b.weight(host)))) })
                }
            }
            // Views: x rows 2..<2+n of n+3, w rows 1..<1+m of m+2 (byte offsets of odd rows).
            let (n, k, m) = dtype.isQuantised ? (5, dtype.blockSize, 7) : (5, 37, 7)
            add("matmul", "\(dtype)", "views: x rows 2..<\(2 + n) of \(n + 3), w rows 1..<\(1 + m) of \(m + 2), k=\(k)",
                tolerance: sumTolerance(k)) { seed in
                let x = values((n + 3) * k, seed: seed)
                let (host, w) = try weight(dtype, rows: m + 2, k: k, seed: seed + 1_000_000)
                return ({ out(Reference.matmul(Array(x[(2 * k)..<((2 + n) * k)]), Array(w[k..<((1 + m) * k)]), n: n, k: k, m: m)) }, { b in
                    let xv = try b.tensor(x, shape: [n + 3, k]).rows(2..<(2 + n)), wv = try b.weight(host).rows(1..<(1 + m))
                    return out(try b.read(try b.matmul(xv, wv)))
                })
            }
        }
        for (n, k, m) in [(1, 37, 5), (9, 100, 67), (17, 64, 33)] {
            add("matmul", "f32 (computed weight)", "n=\(n) k=\(k) m=\(m)", tolerance: sumTolerance(k)) { seed in
                let x = values(n * k, seed: seed), w = values(m * k, seed: seed + 1_000_000)
                return ({ out(Reference.matmul(x, w, n: n, k: k, m: m)) },
                        { b in out(try b.read(try b.matmul(try b.tensor(x, shape: [n, k]), try b.weight(w, shape: [m, k], name: "w")))) })
            }
        }

        // rmsNorm: both forms; weights uploaded as an f32 tensor, or stored in f32 / f16 / bf16.
        for (rows, d) in [(1, 7), (3, 37), (5, 64), (17, 1000), (2, 2304)] {
            for dtype in ["f32 (tensor)"] + floatTypes.map({ "\($0)" }) {
                for form in [RMSNormForm.gemma, .llama] {
                    add("rmsNorm", dtype, "\(rows)×\(d) \(form)", tolerance: norm) { seed in
                        let x = values(rows * d, seed: seed, scale: 3)
                        let stored = floatTypes.first { "\($0)" == dtype }
                        let (host, w) = try weight(stored ?? .f32, rows: 1, k: d, seed: seed + 1_000_000)
                        return ({ out(Reference.rmsNorm(x, weight: w, eps: 1e-6, form: form)) }, { b in
                            let weight = stored == nil ? try b.tensor(w, shape: [d]) : try b.weight(host)
                            return out(try b.read(try b.rmsNorm(try b.tensor(x, shape: [rows, d]), weight: weight, eps: 1e-6, form: form)))
                        })
                    }
                }
            }
        }

        // rope: both pairings, partial rotary dims, linear position scaling, far positions.
        let ropes: [(rows: Int, heads: Int, dim: Int, start: Int, params: RopeParams)] = [
            (1, 3, 16, 0, RopeParams(theta: 10_000, rotaryDim: 16)),
            (5, 3, 16, 7, RopeParams(theta: 10_000, pairing: .interleaved, rotaryDim: 16)),
            (3, 2, 34, 5, RopeParams(theta: 10_000, pairing: .interleaved, rotaryDim: 34)),
            (17, 3, 20, 0, RopeParams(theta: 1_000_000, rotaryDim: 12)),
            (5, 2, 16, 2, RopeParams(theta: 10_000, pairing: .interleaved, positionScale: 2, rotaryDim: 8)),
            (7, 1, 256, 1, RopeParams(theta: 1_000_000, positionScale: 8, rotaryDim: 256)),
            (2, 1, 64, 3000, RopeParams(theta: 10_000, rotaryDim: 64)),
        ]
        for c in ropes {
            let p = c.params
            add("rope", "f32", "\(c.rows) rows × \(c.heads) heads × \(c.dim) from \(c.start), \(p.pairing) rotary \(p.rotaryDim) scale \(p.positionScale) θ \(p.theta)",
                tolerance: transcendental) { seed in
                let x = values(c.rows * c.heads * c.dim, seed: seed)
                return ({ out(Reference.rope(x, heads: c.heads, headDim: c.dim, start: c.start, params: p)) }, { b in
                    out(try b.read(try b.rope(try b.tensor(x, shape: [c.rows, c.heads * c.dim]), heads: c.heads, headDim: c.dim, start: c.start, params: p)))
                })
            }
        }

        // attention: grouped queries, sliding windows, softcaps, a cache longer than the keys in
        // use, queries after a prefix; n across the CPU's per-query / blocked (16) / 128-block split.
        let attentions: [(n: Int, start: Int, extra: Int, heads: Int, kv: Int, dim: Int, window: Int?, softcap: Float?)] = [
            (1, 0, 0, 1, 1, 8, nil, nil), (7, 0, 0, 4, 2, 16, nil, nil), (7, 0, 3, 4, 1, 16, 3, 5),
            (3, 7, 2, 2, 2, 37, nil, 2), (1, 9, 2, 6, 3, 100, 4, nil), (2, 148, 10, 2, 1, 24, nil, 50),
            (16, 0, 0, 4, 2, 12, nil, nil), (37, 5, 2, 4, 2, 12, 7, 3), (70, 0, 0, 2, 2, 8, 65, nil),
            (130, 2, 1, 2, 1, 64, nil, nil), (263, 0, 0, 4, 4, 12, 100, nil),
        ]
        for c in attentions {
            let keyCount = c.start + c.n, keyRows = keyCount + c.extra
            let p = AttentionParams(heads: c.heads, kvHeads: c.kv, headDim: c.dim, scale: 1 / Float(c.dim).squareRoot(),
                                    softcap: c.softcap, window: c.window)
            let shape = "n=\(c.n) from \(c.start), \(keyRows) key rows, \(c.heads)/\(c.kv) heads × \(c.dim), window \(c.window.map(String.init) ?? "-"), softcap \(c.softcap.map { "\($0)" } ?? "-")"
            for wantPattern in [false, true] {
                add("attention", "f32", shape + (wantPattern ? ", pattern" : ""), tolerance: transcendental) { seed in
                    let q = values(c.n * c.heads * c.dim, seed: seed, scale: 2)
                    let k = values(keyRows * c.kv * c.dim, seed: seed + 1_000_000, scale: 2)
                    let v = values(keyRows * c.kv * c.dim, seed: seed + 2_000_000)
                    return ({
                        let r = Reference.attention(q: q, k: k, v: v, n: c.n, queryStart: c.start, keyCount: keyCount, params: p)
                        return wantPattern ? [("out", r.out), ("pattern", r.pattern)] : [("out", r.out)]
                    }, { b in
                        let (o, pattern) = try b.attention(q: try b.tensor(q, shape: [c.n, c.heads * c.dim]),
                                                           k: try b.tensor(k, shape: [keyRows, c.kv * c.dim]),
                                                           v: try b.tensor(v, shape: [keyRows, c.kv * c.dim]),
                                                           queryStart: c.start, keyCount: keyCount, params: p, wantPattern: wantPattern)
                        guard wantPattern else { return [("out", try b.read(o))] }
                        guard let pattern, pattern.shape == [c.heads, c.n, keyCount] else {
                            throw LanternError.shapeMismatch(op: "attention", detail: "pattern \(pattern?.shape.description ?? "missing")")
                        }
                        return [("out", try b.read(o)), ("pattern", try b.read(pattern))]
                    })
                }
            }
        }

        // The packed-sequence forms (a batched pass): each segment against the reference run on its
        // rows alone from position 0; segment lengths across the CPU's blocked-attention split.
        let packs: [(lengths: [Int], heads: Int, kv: Int, dim: Int, window: Int?, softcap: Float?, rope: RopeParams)] = [
            ([7], 4, 2, 16, nil, nil, RopeParams(theta: 10_000, rotaryDim: 16)),
            ([7, 1, 3, 5], 4, 1, 16, 3, 5, RopeParams(theta: 10_000, pairing: .interleaved, rotaryDim: 16)),
            ([1, 20, 2, 17, 9], 2, 2, 34, nil, 2, RopeParams(theta: 1_000_000, rotaryDim: 12)),
            ([40, 3, 70], 6, 3, 24, 65, nil, RopeParams(theta: 10_000, positionScale: 8, rotaryDim: 24)),
        ]
        for c in packs {
            var segments: [Range<Int>] = []
            for length in c.lengths { segments.append((segments.last?.upperBound ?? 0)..<((segments.last?.upperBound ?? 0) + length)) }
            let rows = segments.last!.upperBound, (qw, kw) = (c.heads * c.dim, c.kv * c.dim)
            let p = AttentionParams(heads: c.heads, kvHeads: c.kv, headDim: c.dim, scale: 1 / Float(c.dim).squareRoot(),
                                    softcap: c.softcap, window: c.window)
            let shape = "segments \(c.lengths), \(c.heads)/\(c.kv) heads × \(c.dim), window \(c.window.map(String.init) ?? "-"), softcap \(c.softcap.map { "\($0)" } ?? "-")"
            add("rope (packed)", "f32", shape + ", \(c.rope.pairing) rotary \(c.rope.rotaryDim)", tolerance: transcendental) { seed in
                let x = values(rows * qw, seed: seed)
                return ({ out(segments.flatMap { s in
                    Reference.rope(Array(x[(s.lowerBound * qw)..<(s.upperBound * qw)]), heads: c.heads, headDim: c.dim, start: 0, params: c.rope)
                }) }, { b in
                    out(try b.read(try b.rope(try b.tensor(x, shape: [rows, qw]), heads: c.heads, headDim: c.dim, segments: segments, params: c.rope)))
                })
            }
            add("attention (packed)", "f32", shape, tolerance: transcendental) { seed in
                let q = values(rows * qw, seed: seed, scale: 2)
                let k = values(rows * kw, seed: seed + 1_000_000, scale: 2), v = values(rows * kw, seed: seed + 2_000_000)
                return ({ out(segments.flatMap { s in
                    Reference.attention(q: Array(q[(s.lowerBound * qw)..<(s.upperBound * qw)]), k: Array(k[(s.lowerBound * kw)..<(s.upperBound * kw)]),
                                        v: Array(v[(s.lowerBound * kw)..<(s.upperBound * kw)]), n: s.count, queryStart: 0, keyCount: s.count, params: p).out
                }) }, { b in
                    out(try b.read(try b.attention(q: try b.tensor(q, shape: [rows, qw]), k: try b.tensor(k, shape: [rows, kw]),
                                                   v: try b.tensor(v, shape: [rows, kw]), segments: segments, params: p)))
                })
            }
        }

        // Elementwise: gated activations (gates far into tanh's and exp's tails), add (same shape
        // and a broadcast row), scale, softcap (large values and tiny ones), transpose.
        for (rows, width) in [(1, 1), (1, 7), (17, 61), (3, 1037)] {
            let count = rows * width, shape = "\(rows)×\(width)"
            func pair(_ seed: UInt64) -> ([Float], [Float]) { (values(count, seed: seed, scale: 12), values(count, seed: seed + 1_000_000, scale: 3)) }
            add("gegluTanh", "f32", shape, tolerance: transcendental) { seed in
                let (gate, up) = pair(seed)
                return ({ out(Reference.gegluTanh(gate: gate, up: up)) },
                        { b in out(try b.read(try b.gegluTanh(gate: try b.tensor(gate, shape: [rows, width]), up: try b.tensor(up, shape: [rows, width])))) })
            }
            add("swiglu", "f32", shape, tolerance: transcendental) { seed in
                let (gate, up) = pair(seed)
                return ({ out(Reference.swiglu(gate: gate, up: up)) },
                        { b in out(try b.read(try b.swiglu(gate: try b.tensor(gate, shape: [rows, width]), up: try b.tensor(up, shape: [rows, width])))) })
            }
            add("add", "f32", shape, tolerance: 0) { seed in
                let (a, c) = pair(seed)
                return ({ out(zip(a, c).map(+)) }, { b in out(try b.read(try b.add(try b.tensor(a, shape: [rows, width]), try b.tensor(c, shape: [rows, width])))) })
            }
            add("add", "f32", shape + " + a row of \(width)", tolerance: 0) { seed in
                let (a, c) = pair(seed)
                let row = Array(c.prefix(width))
                return ({ out(a.enumerated().map { $1 + row[$0 % width] }) },
                        { b in out(try b.read(try b.add(try b.tensor(a, shape: [rows, width]), try b.tensor(row, shape: [width])))) })
            }
            for s: Float in [-0.75, 0.0625, 3.3] {
                add("scale", "f32", shape + " by \(s)", tolerance: 0) { seed in
                    let x = pair(seed).0
                    return ({ out(x.map { $0 * s }) }, { b in out(try b.read(try b.scale(try b.tensor(x, shape: [rows, width]), by: s))) })
                }
            }
            for (cap, factor): (Float, Float) in [(50, 10), (30, 2.5), (5, 1), (30, 1e-5)] {
                add("softcap", "f32", shape + " cap \(cap), |x| < \(12 * factor)", tolerance: transcendental) { seed in
                    let x = pair(seed).0.map { $0 * factor }
                    return ({ out(Reference.softcap(x, cap: cap)) }, { b in out(try b.read(try b.softcap(try b.tensor(x, shape: [rows, width]), cap: cap))) })
                }
            }
        }
        for (n, m) in [(1, 1), (1, 9), (3, 70), (65, 33), (100, 7), (17, 1)] {
            add("transpose", "f32", "\(n)×\(m)", tolerance: 0) { seed in
                let x = values(n * m, seed: seed)
                return ({ out(Reference.transpose(x, n: n, m: m)) }, { b in out(try b.read(try b.transpose(try b.tensor(x, shape: [n, m])))) })
            }
        }

        // SAE: encode with each activation (encoder made from floats, or stored in 16 bits), and
        // decode dense and sparse (the CPU reads only the decoder rows that fire when they are few).
        for (n, dIn, dSAE) in [(1, 37, 50), (7, 64, 96), (17, 33, 130)] {
            for dtype in ["f32 (computed weight)", "f16", "bf16"] {
                for activation in [SAEActivation.relu, .jumpReLU, .topK(5)] {
                    add("saeEncode", dtype, "n=\(n) d_in=\(dIn) d_sae=\(dSAE) \(activation)", tolerance: sumTolerance(dIn)) { seed in
                        let x = values(n * dIn, seed: seed, scale: 2)
                        let bias = values(dSAE, seed: seed + 1_000_000, scale: 0.2)
                        let threshold = activation == .jumpReLU ? values(dSAE, seed: seed + 2_000_000, scale: 0.5).map(abs) : nil
                        let stored = floatTypes.first { "\($0)" == dtype }
                        let (host, encoder) = try weight(stored ?? .f32, rows: dSAE, k: dIn, seed: seed + 3_000_000)
                        let wEnc = Reference.transpose(encoder, n: dSAE, m: dIn)
                        return ({ out(Reference.saeEncode(x, wEnc: wEnc, bEnc: bias, threshold: threshold, activation: activation, dIn: dIn, dSAE: dSAE)) }, { b in
                            let e = stored == nil ? try b.weight(encoder, shape: [dSAE, dIn], name: "encoder") : try b.weight(host)
                            return out(try b.read(try b.saeEncode(try b.tensor(x, shape: [n, dIn]), encoder: e, bias: try b.tensor(bias, shape: [dSAE]),
                                                                  threshold: try threshold.map { try b.tensor($0, shape: [dSAE]) }, activation: activation)))
                        })
                    }
                }
            }
            for sparse in [false, true] {
                for withRows in [false, true] {
                    add("saeDecode", "f32 (computed weight)", "n=\(n) d_in=\(dIn) d_sae=\(dSAE), \(sparse ? "sparse" : "dense") acts\(withRows ? ", rows given" : "")",
                        tolerance: sumTolerance(dSAE)) { seed in
                        let wDec = values(dSAE * dIn, seed: seed)  // W_dec [d_sae, d_in]
                        let decoder = Reference.transpose(wDec, n: dSAE, m: dIn)  // [d_in, d_sae]
                        let bias = values(dIn, seed: seed + 1_000_000, scale: 0.2)
                        var acts = values(n * dSAE, seed: seed + 2_000_000).map { max($0, 0) }
                        if sparse {  // a few features per row: under the CPU's 1-in-16 sparse limit
                            var generator = SeededGenerator(seed: seed + 3_000_000)
                            acts = [Float](repeating: 0, count: n * dSAE)
                            for r in 0..<n {
                                for _ in 0..<max(1, dSAE / 25) { acts[r * dSAE + Int(generator.next() % UInt64(dSAE))] = Float(generator.next() % 1000) / 100 }
                            }
                        }
                        return ({ out(Reference.saeDecode(acts, wDec: wDec, bDec: bias, dIn: dIn, dSAE: dSAE)) }, { b in
                            let d = try b.weight(decoder, shape: [dIn, dSAE], name: "decoder")
                            let rows = withRows ? try b.weight(wDec, shape: [dSAE, dIn], name: "rows") : nil
                            return out(try b.read(try b.saeDecode(try b.tensor(acts, shape: [n, dSAE]), decoder: d, rows: rows,
                                                                  bias: try b.tensor(bias, shape: [dIn]))))
                        })
                    }
                }
            }
        }
        return cases
    }()

    /// The ops of `Backend` (LanternCore/Backend.swift); each must have rows in the table.
    static let protocolOps = ["tensor", "weight read back", "zeros", "copyRows", "embed", "matmul", "rmsNorm", "rope", "attention",
                              "rope (packed)", "attention (packed)",
                              "gegluTanh", "swiglu", "add", "scale", "softcap", "transpose", "saeEncode", "saeDecode"]

    // MARK: The backends

    /// A backend under test; `label` is short (the summary's columns), `name` the backend's own.
    struct Subject {
        var label: String
        var backend: any Backend
        var name: String { "\(label): \(backend.name)" }
    }

    /// The backends this machine has, each as the model code would use it.
    func subjects() throws -> [Subject] {
        var subjects = [Subject(label: "cpu", backend: CPUBackend())]
        let widened = CPUBackend()
        widened.widenWeights()
        subjects.append(Subject(label: "cpu widened", backend: widened))
        if CPUBackend().usesAMX {
            let plain = CPUBackend()
            plain.usesAMX = false
            subjects.append(Subject(label: "cpu no AMX", backend: plain))
        }
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" {
            print("BackendConformanceTests: LANTERN_SKIP_VULKAN=1, the CPU backends only")
            return subjects
        }
        do {
            let gpu = try VulkanTestCase.shared.get(), staged = try VulkanTestCase.staged.get()
            subjects.append(Subject(label: "vulkan", backend: gpu))
            subjects.append(Subject(label: "vulkan staged\(staged.useSubgroups ? "" : ", no subgroups")", backend: staged))
        } catch {
            XCTFail("no usable Vulkan device (install mesa-vulkan-drivers and vulkan-validationlayers, or set LANTERN_SKIP_VULKAN=1): \(error)")
        }
        return subjects
    }

    // MARK: Running it

    /// Runs the table's rows for `ops` on every backend; prints the worst relative error per op,
    /// dtype and backend.
    func check(_ ops: Set<String>, file: StaticString = #filePath, line: UInt = #line) throws {
        let cases = Self.table.filter { ops.contains($0.op) }
        XCTAssertFalse(cases.isEmpty, "no rows for \(ops.sorted())", file: file, line: line)
        let subjects = try subjects()
        let vulkans = subjects.compactMap { $0.backend as? VulkanBackend }
        let before = vulkans.map(\.validationMessageCount)
        // The worst max |Δ| / max |reference| per op and dtype, per backend, and the loosest tolerance.
        var worst: [String: (errors: [Float], tolerance: Float)] = [:]
        for c in cases {
            let what = "\(c.op) \(c.dtype) \(c.shape)"
            let expected: Outputs
            do { expected = try c.reference() } catch { XCTFail("\(what) (seed \(c.seed)): the reference threw \(error)", file: file, line: line); continue }
            for subject in subjects {
                let label = "\(what) on \(subject.name) (seed \(c.seed))"
                let got: Outputs
                do { got = try c.run(subject.backend) } catch { XCTFail("\(label): threw \(error)", file: file, line: line); continue }
                XCTAssertEqual(got.map(\.0), expected.map(\.0), label, file: file, line: line)
                for ((name, a), (_, b)) in zip(got, expected) {
                    guard a.count == b.count else {
                        XCTFail("\(label): \(name) has \(a.count) values, the reference \(b.count)", file: file, line: line)
                        continue
                    }
                    var maxDelta: Float = 0, scale: Float = 0, nonFinite = 0
                    for (x, y) in zip(a, b) {
                        if x.isFinite != y.isFinite || (!x.isFinite && x.bitPattern != y.bitPattern) { nonFinite += 1; continue }
                        if x.isFinite { maxDelta = max(maxDelta, abs(x - y)); scale = max(scale, abs(y)) }
                    }
                    let relative = maxDelta / max(scale, .leastNormalMagnitude)
                    XCTAssertEqual(nonFinite, 0, "\(label): \(name) has \(nonFinite) non-finite values where the reference has none (or others)",
                                   file: file, line: line)
                    XCTAssertLessThanOrEqual(maxDelta, c.tolerance * scale,
                                             "\(label): \(name) max |Δ| \(maxDelta) = \(relative) of max |reference| \(scale), tolerance \(c.tolerance)",
                                             file: file, line: line)
                    let key = "\(c.op) \(c.dtype)", column = subjects.firstIndex { $0.backend === subject.backend }!
                    var entry = worst[key] ?? ([Float](repeating: 0, count: subjects.count), c.tolerance)
                    entry.errors[column] = max(entry.errors[column], relative)
                    entry.tolerance = max(entry.tolerance, c.tolerance)
                    worst[key] = entry
                }
            }
        }
        for (vulkan, count) in zip(vulkans, before) {
            try vulkan.synchronize()
            if vulkan.validationMessageCount > count {
                let messages = vulkan.validationMessages.dropFirst(count).prefix(5)
                XCTFail("\(vulkan.name): the validation layer reported \(vulkan.validationMessageCount - count) message(s): \(messages.joined(separator: "\n"))",
                        file: file, line: line)
            }
        }
        print("conformance: \(cases.count) rows × \(subjects.count) backends (\(subjects.map(\.name).joined(separator: "; ")))")
        for key in worst.keys.sorted() {
            let (errors, tolerance) = worst[key]!
            let columns = zip(subjects, errors).map { "\($0.label) \(String(format: "%.2g", $1))" }.joined(separator: ", ")
            print("conformance: \(key): worst max|Δ|/max|ref| \(columns) (tolerance \(String(format: "%.2g", tolerance)))")
        }
    }

    func testTableCoversEveryOp() {
        XCTAssertEqual(Set(Self.table.map(\.op)), Set(Self.protocolOps))
        let seeds = Self.table.map(\.seed)
        XCTAssertEqual(Set(seeds).count, seeds.count, "every row has its own seed")
    }

    func testMemory() throws { try check(["tensor", "zeros", "weight read back", "copyRows"]) }
    func testEmbed() throws { try check(["embed"]) }
    func testMatmul() throws { try check(["matmul"]) }
    func testRMSNorm() throws { try check(["rmsNorm"]) }
    func testRope() throws { try check(["rope"]) }
    func testAttention() throws { try check(["attention"]) }
    func testPackedSequences() throws { try check(["rope (packed)", "attention (packed)"]) }
    func testElementwise() throws { try check(["gegluTanh", "swiglu", "add", "scale", "softcap", "transpose"]) }
    func testSAE() throws { try check(["saeEncode", "saeDecode"]) }
}
