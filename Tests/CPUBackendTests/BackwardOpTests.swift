@testable import CPUBackend
import LanternCore
import XCTest

/// The backward ops three ways: the double-precision reference backward against central finite
/// differences of the reference forward; the reference forward against the f32 `Reference` the
/// forward kernels are tested against; the CPU backend's backward kernels against the reference.
final class BackwardOpTests: XCTestCase {
    let backend = CPUBackend()
    var rng = SplitMix64(seed: 42)

    func random(_ n: Int, scale: Double = 1) -> [Double] { (0..<n).map { _ in rng.uniform() * scale } }

    /// ‖a − b‖ / ‖b‖.
    func relative(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let diff = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        return diff / max(b.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-300)
    }

    /// ∂⟨dy, f(x)⟩/∂x by central differences, element by element.
    func finiteDifference(_ x: [Double], _ dy: [Double], h: Double = 1e-5, _ f: ([Double]) -> [Double]) -> [Double] {
        x.indices.map { i in
            var plus = x, minus = x
            plus[i] += h; minus[i] -= h
            let fp = f(plus), fm = f(minus)
            return zip(dy, zip(fp, fm)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) } / (2 * h)
        }
    }

    func tensor(_ x: [Double], _ shape: [Int]) throws -> Tensor { try backend.tensor(x.map { Float($0) }, shape: shape) }
    func read(_ t: Tensor) throws -> [Double] { try backend.read(t).map { Double($0) } }
    func floats(_ x: [Double]) -> [Float] { x.map { Float($0) } }

    func assertRelative(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let e = relative(a, b)
        XCTAssertLessThanOrEqual(e, tol, "\(what): relative error \(e)", file: file, line: line)
    }

    func testRMSNormBothForms() throws {
        for form in [RMSNormForm.gemma, .llama] {
            let (rows, d) = (3, 13)
            let x = random(rows * d, scale: 2), w = random(d), dy = random(rows * d)
            let eps = 1e-6
            let back = BackwardReference.rmsNormBackward(x, weight: w, eps: eps, form: form, gradient: dy)
            assertRelative(back, finiteDifference(x, dy) { BackwardReference.rmsNorm($0, weight: w, eps: eps, form: form) },
                           1e-8, "rmsNorm \(form) reference vs finite differences")
            assertRelative(BackwardReference.rmsNorm(x, weight: w, eps: eps, form: form),
                           Reference.rmsNorm(floats(x), weight: floats(w), eps: Float(eps), form: form).map(Double.init),
                           1e-6, "rmsNorm \(form) double forward vs f32 reference")
            let got = try backend.rmsNormBackward(try tensor(x, [rows, d]), weight: try tensor(w, [d]), eps: Float(eps), form: form,
                                                  gradient: try tensor(dy, [rows, d]))
            assertRelative(try read(got), back, 1e-5, "rmsNorm \(form) kernel vs reference")

            // Frozen scale: the derivative of the linear map x ↦ x ∘ g / rms(x₀).
            let g = form == .gemma ? w.map { 1 + $0 } : w
            let scales = (0..<rows).map { r in 1 / (x[(r * d)..<(r * d + d)].reduce(0) { $0 + $1 * $1 } / Double(d) + eps).squareRoot() }
            let frozen = BackwardReference.rmsNormBackward(x, weight: w, eps: eps, form: form, gradient: dy, frozenScale: true)
            assertRelative(frozen, finiteDifference(x, dy) { y in y.indices.map { y[$0] * g[$0 % d] * scales[$0 / d] } },
                           1e-8, "frozen rmsNorm \(form) reference vs finite differences")
            let gotFrozen = try backend.rmsNormBackward(try tensor(x, [rows, d]), weight: try tensor(w, [d]), eps: Float(eps), form: form,
                                                        gradient: try tensor(dy, [rows, d]), frozenScale: true)
            assertRelative(try read(gotFrozen), frozen, 1e-5, "frozen rmsNorm \(form) kernel vs reference")
        }
    }

    func testLayerNormExactAndFrozen() throws {
        let (rows, d) = (3, 13)
        let x = random(rows * d, scale: 2).map { $0 + 0.7 }, w = random(d), b = random(d), dy = random(rows * d)
        let eps = 1e-5
        for frozen in [false, true] {
            let back = BackwardReference.layerNormBackward(x, weight: w, eps: eps, gradient: dy, frozenScale: frozen)
            // Frozen: the derivative of the linear map x ↦ (x − mean(x)) · w / scale(x₀) + b.
            let scales = (0..<rows).map { r -> Double in
                let row = x[(r * d)..<(r * d + d)], mean = row.reduce(0, +) / Double(d)
                return 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d) + eps).squareRoot()
            }
            let f: ([Double]) -> [Double] = frozen ? { y in
                y.indices.map { i in
                    let r = i / d, mean = y[(r * d)..<(r * d + d)].reduce(0, +) / Double(d)
                    return (y[i] - mean) * scales[r] * w[i % d] + b[i % d]
                }
            } : { BackwardReference.layerNorm($0, weight: w, bias: b, eps: eps) }
            assertRelative(back, finiteDifference(x, dy, f), 1e-8, "layerNorm frozen \(frozen) reference vs finite differences")
            let got = try backend.layerNormBackward(try tensor(x, [rows, d]), weight: try tensor(w, [d]), eps: Float(eps),
                                                    gradient: try tensor(dy, [rows, d]), frozenScale: frozen)
            assertRelative(try read(got), back, 1e-5, "layerNorm frozen \(frozen) kernel vs reference")
        }
        assertRelative(BackwardReference.layerNorm(x, weight: w, bias: b, eps: eps),
                       Reference.layerNorm(floats(x), weight: floats(w), bias: floats(b), eps: Float(eps)).map(Double.init),
                       1e-6, "layerNorm double forward vs f32 reference")
    }

    func testGELUBothForms() throws {
        let count = 37
        let x = random(count, scale: 4), dy = random(count)
        for form in [GELUApproximation.tanh, .erf] {
            let back = BackwardReference.geluBackward(x, approximation: form, gradient: dy)
            assertRelative(back, finiteDifference(x, dy) { BackwardReference.gelu($0, approximation: form) }, 1e-8,
                           "gelu \(form) reference vs finite differences")
            assertRelative(BackwardReference.gelu(x, approximation: form), Reference.gelu(floats(x), approximation: form).map(Double.init),
                           1e-6, "gelu \(form) double forward vs f32 reference")
            let got = try backend.geluBackward(try tensor(x, [count]), approximation: form, gradient: try tensor(dy, [count]))
            assertRelative(try read(got), back, 1e-5, "gelu \(form) kernel vs reference")
        }
    }

    func testRopeBothPairingsPartialRotaryAndOffset() throws {
        for (pairing, rotary, start) in [(RopePairing.half, 8, 0), (.interleaved, 8, 3), (.half, 4, 5)] {
            let params = RopeParams(theta: 10000, pairing: pairing, positionScale: pairing == .half ? 1 : 2, rotaryDim: rotary)
            let (rows, heads, hd) = (4, 2, 8)
            let x = random(rows * heads * hd), dy = random(rows * heads * hd)
            let back = BackwardReference.ropeBackward(dy, heads: heads, headDim: hd, start: start, params: params)
            assertRelative(back, finiteDifference(x, dy) { BackwardReference.rope($0, heads: heads, headDim: hd, start: start, params: params) },
                           1e-8, "rope \(pairing) reference vs finite differences")
            assertRelative(BackwardReference.rope(x, heads: heads, headDim: hd, start: start, params: params),
                           Reference.rope(floats(x), heads: heads, headDim: hd, start: start, params: params).map(Double.init),
                           1e-6, "rope \(pairing) double forward vs f32 reference")
            let got = try backend.ropeBackward(try tensor(dy, [rows, heads * hd]), heads: heads, headDim: hd, start: start, params: params)
            assertRelative(try read(got), back, 1e-6, "rope \(pairing) kernel vs reference")
        }
    }

    func testAttentionGQASoftcapWindowAndOffset() throws {
        let cases: [(AttentionParams, n: Int, queryStart: Int)] = [
            (AttentionParams(heads: 4, kvHeads: 2, headDim: 5, scale: 0.4), 6, 0),
            (AttentionParams(heads: 4, kvHeads: 1, headDim: 5, scale: 0.5, softcap: 1.5, window: 3), 7, 0),
            (AttentionParams(heads: 2, kvHeads: 2, headDim: 3, scale: 0.7, softcap: 2, window: 4), 3, 4),
        ]
        for (p, n, start) in cases {
            let keys = start + n
            let q = random(n * p.heads * p.headDim, scale: 1.5), k = random(keys * p.kvHeads * p.headDim, scale: 1.5)
            let v = random(keys * p.kvHeads * p.headDim), dz = random(n * p.heads * p.headDim)
            let back = BackwardReference.attentionBackward(q: q, k: k, v: v, n: n, queryStart: start, keyCount: keys,
                                                           params: p, gradient: dz)
            func forward(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
                BackwardReference.attention(q: q, k: k, v: v, n: n, queryStart: start, keyCount: keys, params: p)
            }
            let what = "attention \(p.heads)/\(p.kvHeads) softcap \(p.softcap as Any) window \(p.window as Any) from \(start)"
            assertRelative(back.dq, finiteDifference(q, dz) { forward($0, k, v) }, 1e-7, "\(what): dq vs finite differences")
            assertRelative(back.dk, finiteDifference(k, dz) { forward(q, $0, v) }, 1e-7, "\(what): dk vs finite differences")
            assertRelative(back.dv, finiteDifference(v, dz) { forward(q, k, $0) }, 1e-7, "\(what): dv vs finite differences")
            let f32 = Reference.attention(q: floats(q), k: floats(k), v: floats(v), n: n, queryStart: start, keyCount: keys, params: p)
            assertRelative(forward(q, k, v), f32.out.map(Double.init), 1e-5, "\(what): double forward vs f32 reference")
            let got = try backend.attentionBackward(q: try tensor(q, [n, p.heads * p.headDim]), k: try tensor(k, [keys, p.kvHeads * p.headDim]),
                                                    v: try tensor(v, [keys, p.kvHeads * p.headDim]), queryStart: start, params: p,
                                                    gradient: try tensor(dz, [n, p.heads * p.headDim]))
            assertRelative(try read(got.dq), back.dq, 1e-5, "\(what): kernel dq")
            assertRelative(try read(got.dk), back.dk, 1e-5, "\(what): kernel dk")
            assertRelative(try read(got.dv), back.dv, 1e-5, "\(what): kernel dv")
        }
    }

    func testGatedActivationsAndSoftcap() throws {
        let count = 37
        let gate = random(count, scale: 4), up = random(count, scale: 2), dy = random(count)
        for (name, isGelu) in [("geglu", true), ("swiglu", false)] {
            let back = isGelu ? BackwardReference.gegluBackward(gate: gate, up: up, gradient: dy)
                : BackwardReference.swigluBackward(gate: gate, up: up, gradient: dy)
            func forward(_ g: [Double], _ u: [Double]) -> [Double] {
                isGelu ? BackwardReference.geglu(gate: g, up: u) : BackwardReference.swiglu(gate: g, up: u)
            }
            assertRelative(back.dGate, finiteDifference(gate, dy) { forward($0, up) }, 1e-8, "\(name) d gate vs finite differences")
            assertRelative(back.dUp, finiteDifference(up, dy) { forward(gate, $0) }, 1e-8, "\(name) d up vs finite differences")
            let f32 = isGelu ? Reference.gegluTanh(gate: floats(gate), up: floats(up)) : Reference.swiglu(gate: floats(gate), up: floats(up))
            assertRelative(forward(gate, up), f32.map(Double.init), 1e-6, "\(name) double forward vs f32 reference")
            let (g, u, d) = (try tensor(gate, [count]), try tensor(up, [count]), try tensor(dy, [count]))
            let got = isGelu ? try backend.gegluTanhBackward(gate: g, up: u, gradient: d) : try backend.swigluBackward(gate: g, up: u, gradient: d)
            assertRelative(try read(got.dGate), back.dGate, 1e-5, "\(name) kernel d gate")
            assertRelative(try read(got.dUp), back.dUp, 1e-5, "\(name) kernel d up")
        }
        let x = random(count, scale: 6), cap = 3.0
        let back = BackwardReference.softcapBackward(x, cap: cap, gradient: dy)
        assertRelative(back, finiteDifference(x, dy) { BackwardReference.softcap($0, cap: cap) }, 1e-8, "softcap vs finite differences")
        let got = try backend.softcapBackward(try tensor(x, [count]), cap: Float(cap), gradient: try tensor(dy, [count]))
        assertRelative(try read(got), back, 1e-5, "softcap kernel")
    }

    /// dX = dY · W for every stored dtype, against the reference on the dequantised weight; some
    /// columns of dY are zero everywhere (the skipped rows) and one row of dY is all zero. 3 rows
    /// take the row-by-row kernel; 70 the blocked one (a 64-row chunk, then 6 = 4 + 2 rows).
    func testMatmulBackwardEveryDType() throws {
        for dtype in DType.allCases { for n in [3, 70] {
            let (k, m) = (dtype.blockSize == 256 ? 512 : 96, 11)
            let bytes = weightBytes(dtype, rows: m, k: k)
            var dy = random(n * m)
            for j in [2, 5, 6] { for i in 0..<n { dy[i * m + j] = 0 } }
            for j in 0..<m { dy[1 * m + j] = 0 }
            try bytes.withUnsafeBytes { raw in
                let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
                let w = try host.floats().map(Double.init)
                XCTAssert(w.allSatisfy(\.isFinite), "\(dtype): test weights must be finite")
                let want = BackwardReference.matmulBackward(dy, w, n: n, k: k, m: m)
                if n == 3 {  // the reference itself, once (finite differences cost (n·k)² · m)
                    let x = random(n * k), h = 1e-5
                    assertRelative(want, finiteDifference(x, dy, h: h) { BackwardReference.matmul($0, w, n: n, k: k, m: m) },
                                   1e-7, "\(dtype): reference vs finite differences")
                }
                let got = try backend.matmulBackward(try tensor(dy, [n, m]), try backend.weight(host))
                XCTAssertEqual(got.shape, [n, k])
                assertRelative(try read(got), want, 1e-6, "\(dtype), \(n) rows: kernel vs reference")
            }
        } }
    }

    func testShapeErrorsAreReported() throws {
        let x = try backend.tensor([1, 2, 3, 4], shape: [2, 2])
        XCTAssertThrowsError(try backend.matmulBackward(x, try backend.tensor([1, 2, 3], shape: [3, 1])))
        XCTAssertThrowsError(try backend.rmsNormBackward(x, weight: try backend.tensor([1], shape: [1]), eps: 1e-6, form: .gemma, gradient: x))
        let p = AttentionParams(heads: 2, kvHeads: 1, headDim: 1, scale: 1)
        XCTAssertThrowsError(try backend.attentionBackward(q: x, k: x, v: x, queryStart: 0, params: p, gradient: x))
    }

    /// Random weight bytes of `dtype`: floats for the float types; for block types random bytes
    /// with small, finite f16 scales where each type keeps them.
    func weightBytes(_ dtype: DType, rows: Int, k: Int) -> [UInt8] {
        let count = rows * k
        switch dtype {
        case .f32: return floats(random(count)).withUnsafeBytes { Array($0) }
        case .f16: return floats(random(count)).map { Float16($0) }.withUnsafeBytes { Array($0) }
        case .bf16: return floats(random(count)).map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }.withUnsafeBytes { Array($0) }
        default:
            let blocks = count / dtype.blockSize
            var bytes = (0..<(blocks * dtype.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let halves: [Int] = switch dtype {
            case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
            case .q6_K: [208]
            default: [0]
            }
            for b in 0..<blocks {
                for off in halves {
                    let h = Float16(Float(Int(rng.next() % 2001) - 1000) / 20000).bitPattern
                    bytes[b * dtype.blockBytes + off] = UInt8(h & 0xFF)
                    bytes[b * dtype.blockBytes + off + 1] = UInt8(h >> 8)
                }
            }
            return bytes
        }
    }
}

/// SplitMix64 (the generator of Models' `SeededGenerator`, which this target does not import),
/// for reproducible test inputs: the same seed gives the same inputs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [−1, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) * 2 - 1 }
}
