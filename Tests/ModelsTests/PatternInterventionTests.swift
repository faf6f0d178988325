import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// An edit at `blocks.L.attn.hook_pattern` changes the pass exactly as the same edit of
/// transformers' attention weights does (between the softmax and the product with the values;
/// the goldens are made by tools/make_intervention_goldens.py), on every tiny family.
final class PatternInterventionTests: XCTestCase {
    typealias F = FixtureParityTests

    /// Rewrites every [query, key] row of one head of a pattern [heads, n, keys].
    static func editing(head: Int, _ row: @escaping (_ query: Int, _ probabilities: inout ArraySlice<Float>) -> Void) -> HookFunction {
        { x, ctx in
            var p = try ctx.backend.read(x)
            let (n, keys) = (x.shape[1], x.shape[2])
            for q in 0..<n {
                let start = (head * n + q) * keys
                var slice = p[start..<(start + keys)]
                row(q, &slice)
                p.replaceSubrange(start..<(start + keys), with: slice)
            }
            return try ctx.backend.tensor(p, shape: x.shape)
        }
    }

    /// Zeroes one head's slice of hook_z [n, heads·headDim].
    static func zeroingZ(head: Int, headDim: Int) -> HookFunction {
        { x, ctx in
            var v = try ctx.backend.read(x)
            for i in 0..<x.rowCount { for k in 0..<headDim { v[i * x.width + head * headDim + k] = 0 } }
            return try ctx.backend.tensor(v, shape: x.shape)
        }
    }

    /// The goldens' three edits, as hooks.
    static func edits(layers: Int) -> [(name: String, layer: Int, body: HookFunction)] {
        [("zero_head", 1, editing(head: 1) { _, p in for i in p.indices { p[i] = 0 } }),
         ("bos_only", 0, editing(head: 0) { _, p in for i in p.indices { p[i] = i == p.startIndex ? 1 : 0 } }),
         // Evenly over the keys the query sees: those the softmax gave any probability (causal, windowed).
         ("uniform", layers - 1, editing(head: 0) { _, p in
             let seen = p.filter { $0 > 0 }.count
             for i in p.indices { p[i] = p[i] > 0 ? 1 / Float(seen) : 0 }
         })]
    }

    func testPatternEditsMatchTransformers() throws {
        let goldens = F.fixtures.appendingPathComponent("interventions")
        for name in F.all {
            let f = try F.load(name)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("\(name).json"))) as! [String: Any]
            let tokens = (meta["tokens"] as! [Int]).map(Int32.init)
            let golden = try SafetensorsFile(path: goldens.appendingPathComponent("\(name).safetensors").path)
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            XCTAssertLessThanOrEqual(F.relativeError(clean, try golden.tensor("clean:logits").floats()), 1e-5, "\(name): clean")
            for edit in Self.edits(layers: f.model.config.layerCount) {
                let hooks = Hooks(capture: HookFilter(["blocks.\(edit.layer).attn.hook_pattern"]))
                hooks.intervene("blocks.\(edit.layer).attn.hook_pattern", edit.body)
                let logits = try f.model.backend.read(f.model.forward(tokens, hooks: hooks)!)
                let expected = try golden.tensor("\(edit.name):logits").floats()
                XCTAssertLessThanOrEqual(F.relativeError(logits, expected), 1e-5, "\(name) \(edit.name): logits as transformers'")
                XCTAssertGreaterThan(F.relativeError(logits, clean), 1e-3, "\(name) \(edit.name): the edit changes the logits")
                // The cache shows the pattern the pass used.
                let seen = try f.model.backend.read(try XCTUnwrap(hooks.activation("blocks.\(edit.layer).attn.hook_pattern")))
                let n = tokens.count
                if edit.name == "bos_only" { XCTAssertEqual(seen[(0 * n + n - 1) * n], 1, "\(name): BOS-only in the cache") }
            }
        }
    }

    /// An intervention that returns the pattern unchanged recomputes P·V on the host: the same
    /// pass as the backend's fused attention, to rounding.
    func testUnchangedPatternKeepsThePass() throws {
        for name in F.all {
            let f = try F.load(name)
            let tokens = f.sequences[1]
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            let hooks = Hooks()
            hooks.intervene("blocks.*.attn.hook_pattern") { x, _ in x }
            let same = try f.model.backend.read(f.model.forward(tokens, hooks: hooks)!)
            XCTAssertLessThanOrEqual(F.relativeError(same, clean), 1e-6, name)
        }
    }

    /// Zeroing a head's pattern is zeroing its z slice; with a KV cache too (decoding one token at
    /// a time after a prefix, the pattern of each step is [heads, 1, keys]).
    func testZeroedPatternIsZeroedHeadAlsoWhenDecoding() throws {
        let f = try F.load("gemma2_tiny")
        let c = f.model.config, tokens = f.sequences[1], head = 2
        let viaPattern = Hooks()
        viaPattern.intervene("blocks.1.attn.hook_pattern", Self.editing(head: head) { _, p in for i in p.indices { p[i] = 0 } })
        let viaZ = Hooks()
        viaZ.intervene("blocks.1.attn.hook_z", Self.zeroingZ(head: head, headDim: c.headDim))
        let full = try f.model.backend.read(f.model.forward(tokens, hooks: viaZ)!)
        XCTAssertLessThanOrEqual(F.relativeError(try f.model.backend.read(f.model.forward(tokens, hooks: viaPattern)!), full), 1e-5)
        let cache = try KVCache(model: f.model, capacity: tokens.count)
        let prefix = 5, vocab = c.vocabSize
        _ = try f.model.forward(Array(tokens[0..<prefix]), cache: cache, hooks: viaPattern, logits: .none)
        for i in prefix..<tokens.count {
            let step = try f.model.backend.read(f.model.forward([tokens[i]], cache: cache, hooks: viaPattern, logits: .last)!)
            let expected = Array(full[(i * vocab)..<((i + 1) * vocab)])
            XCTAssertLessThanOrEqual(F.relativeError(step, expected), 1e-5, "decode step \(i)")
        }
    }
}
