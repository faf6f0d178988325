import Foundation
import CIntrinsics
import LanternCore

/// Row-wise and element-wise kernels: SIMD over the row, threads over rows.
enum Kernels {
    static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                        rows: Int, d: Int, eps: Float, addOne: Bool) {
        let args = UncheckedBox((x, w, out))
        Parallel.forRanges(rows, minChunk: max(1, 16384 / max(d, 1))) { range in
            let (x, w, out) = args.value
            for r in range {
                let xr = x + r * d, o = out + r * d
                // Four running sums: one waited on its own previous add every eight floats.
                var acc = SIMD8<Float>(), acc1 = acc, acc2 = acc, acc3 = acc, i = 0
                let raw = UnsafeRawPointer(xr)
                while i + 32 <= d {
                    let v0 = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                    let v1 = raw.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
                    let v2 = raw.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD8<Float>.self)
                    let v3 = raw.loadUnaligned(fromByteOffset: 4 * i + 96, as: SIMD8<Float>.self)
                    acc += v0 * v0; acc1 += v1 * v1; acc2 += v2 * v2; acc3 += v3 * v3
                    i += 32
                }
                acc = (acc + acc1) + (acc2 + acc3)
                while i + 8 <= d {
                    let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                    acc += v * v; i += 8
                }
                var ss = acc.sum()
                while i < d { ss += xr[i] * xr[i]; i += 1 }
                let inv = 1 / (ss / Float(d) + eps).squareRoot()
                for i in 0..<d { o[i] = xr[i] * inv * (addOne ? 1 + w[i] : w[i]) }
            }
        }
    }

    /// Rotates each pair by θ (by −θ when `inverse`: the rotation's transpose, for backward passes).
    static func rope(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
                     headDim: Int, start: Int, params: RopeParams, inverse: Bool = false) {
        let half = params.rotaryDim / 2
        let invFreq = (0..<half).map {
            RopeParams.inverseFrequency($0, rotaryDim: params.rotaryDim, theta: params.theta) / params.positionScale
        }
        let width = heads * headDim
        let table = RopeAngles.table(for: params, invFreq: invFreq, covering: start + rows)
        let args = UncheckedBox((x, out, invFreq))
        Parallel.forRanges(rows) { range in
            let (x, out, invFreq) = args.value
            var cosv = [Float](repeating: 0, count: half), sinv = cosv
            for r in range {
                if let table {
                    let at = (start + r) * half
                    for i in 0..<half { cosv[i] = table.cos[at + i]; sinv[i] = inverse ? -table.sin[at + i] : table.sin[at + i] }
                } else {
                    let pos = Float(start + r)
                    for i in 0..<half {
                        let angle = Double(pos * invFreq[i])
                        cosv[i] = Float(cos(angle)); sinv[i] = inverse ? -Float(sin(angle)) : Float(sin(angle))
                    }
                }
                // Dimensions past rotaryDim pass through unchanged.
                (out + r * width).update(from: x + r * width, count: width)
                for h in 0..<heads {
                    let xb = x + r * width + h * headDim, ob = out + r * width + h * headDim
                    var i = 0
                    if params.pairing == .half {
                        // The halves are contiguous: eight pairs at a time, the same products and sums.
                        cosv.withUnsafeBufferPointer { c in
                            sinv.withUnsafeBufferPointer { s in
                                typealias V = SIMD8<Float>
                                let (src, dst) = (UnsafeRawPointer(xb), UnsafeMutableRawPointer(ob))
                                let (cr, sr) = (UnsafeRawPointer(c.baseAddress!), UnsafeRawPointer(s.baseAddress!))
                                while i + 8 <= half {
                                    let x1 = src.loadUnaligned(fromByteOffset: 4 * i, as: V.self)
                                    let x2 = src.loadUnaligned(fromByteOffset: 4 * (half + i), as: V.self)
                                    let cv = cr.loadUnaligned(fromByteOffset: 4 * i, as: V.self)
                                    let sv = sr.loadUnaligned(fromByteOffset: 4 * i, as: V.self)
                                    dst.storeBytes(of: x1 * cv - x2 * sv, toByteOffset: 4 * i, as: V.self)
                                    dst.storeBytes(of: x2 * cv + x1 * sv, toByteOffset: 4 * (half + i), as: V.self)
                                    i += 8
                                }
                            }
                        }
                    }
                    while i < half {
                        let (a, b) = params.pairing == .half ? (i, i + half) : (2 * i, 2 * i + 1)
                        ob[a] = xb[a] * cosv[i] - xb[b] * sinv[i]
                        ob[b] = xb[b] * cosv[i] + xb[a] * sinv[i]
                        i += 1
                    }
                }
            }
        }
    }

    /// out[i] = a[i] + b[i], 16 lanes at a time, in parallel chunks (the residual adds: a closure
    /// per element through `map` cost ~5% of a harvest).
    static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        let args = UncheckedBox((a, b, out))
        Parallel.forRanges(count, minChunk: 8192) { range in
            let (a, b, out) = args.value
            addRun(a + range.lowerBound, b + range.lowerBound, out + range.lowerBound, range.count)
        }
    }

    /// out[r, i] = a[r, i] + bias[i] for rows of `width`, 16 lanes at a time, rows in parallel.
    static func addRow(_ a: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let args = UncheckedBox((a, bias, out))
        Parallel.forRanges(rows, minChunk: max(1, 8192 / max(width, 1))) { range in
            let (a, bias, out) = args.value
            for r in range { addRun(a + r * width, bias, out + r * width, width) }
        }
    }

    /// out[i] = x[i] · s, 16 lanes at a time, in parallel chunks.
    static func scale(_ x: UnsafePointer<Float>, by s: Float, _ out: UnsafeMutablePointer<Float>, count: Int) {
        let args = UncheckedBox((x, out))
        Parallel.forRanges(count, minChunk: 8192) { range in
            let (x, out) = args.value
            typealias V = SIMD16<Float>
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                UnsafeMutableRawPointer(out + i).storeBytes(of: UnsafeRawPointer(x + i).loadUnaligned(as: V.self) * s, as: V.self)
                i += 16
            }
            while i < range.upperBound { out[i] = x[i] * s; i += 1 }
        }
    }

    @inline(__always)
    private static func addRun(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 16 <= count {
            let sum = UnsafeRawPointer(a + i).loadUnaligned(as: V.self) + UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: sum, as: V.self)
            i += 16
        }
        while i < count { out[i] = a[i] + b[i]; i += 1 }
    }

    /// out [cols, rows] = xᵀ for x [rows, cols], in 32×32 tiles (cache-friendly both ways),
    /// tile rows of the output split over the cores.
    static func transpose(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let tile = 32
        let args = UncheckedBox((x, out))
        Parallel.forRanges((cols + tile - 1) / tile, minChunk: 1) { tiles in
            let (x, out) = args.value
            for tj in tiles {
                let j0 = tj * tile, j1 = min(cols, j0 + tile)
                var i0 = 0
                while i0 < rows {
                    let i1 = min(rows, i0 + tile)
                    for j in j0..<j1 {
                        for i in i0..<i1 { out[j * rows + i] = x[i * cols + j] }
                    }
                    i0 = i1
                }
            }
        }
    }

    /// Every 64-byte line of `bytes` bytes at `p` fetched ahead of use (a row a row-dot will read
    /// next: the hardware prefetcher stops at every 4 KiB page of a mapped file).
    @inline(__always) static func prefetchLines(_ p: UnsafeRawPointer, bytes: Int) {
        var off = 0
        while off < bytes { lantern_prefetch(p + off); off += 64 }
    }

    /// Σ of the eight lanes, halving the width each step: three shuffle-adds. The stdlib's `sum()`
    /// adds the lanes one after another, seven dependent adds, and decode's attention paid that
    /// once per key.
    @inline(__always)
    static func laneSum(_ v: SIMD8<Float>) -> Float {
        let s4 = v.lowHalf + v.highHalf
        let s2 = s4.lowHalf + s4.highHalf
        return s2[0] + s2[1]
    }
}
