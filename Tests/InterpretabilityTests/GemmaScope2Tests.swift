import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models
@testable import Interpretability

/// Gemma Scope 2 folders (tools/make_gemma_scope2_fixtures.py): SAEs, transcoders and a
/// cross-layer transcoder against numpy on gemma3_tiny's own activations; the hook mapping;
/// one-line load errors; the writer round trip.
final class GemmaScope2Tests: XCTestCase {
    let backend = CPUBackend()
    static let folder = "gemma_scope2"

    func goldens() throws -> SafetensorsFile { try SafetensorsFile(path: Fixtures.path("\(Self.folder)/goldens.safetensors")) }
    func path(_ relative: String) -> String { Fixtures.path("\(Self.folder)/\(relative)") }

    func golden(_ name: String) throws -> (tensor: Tensor, values: [Float]) {
        let t = try goldens().tensor(name)
        let values = try t.floats()
        return (try backend.tensor(values, shape: t.shape), values)
    }

    /// The worst relative error any comparison of this test saw, printed at the end.
    var worst: Float = 0

    override func tearDown() {
        if worst > 0 { print("\(name): worst relative error vs numpy \(worst)") }
        super.tearDown()
    }

    func assertClose(_ actual: Tensor, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try golden(name).values
        let error = Fixtures.relativeError(try backend.read(actual), expected)
        worst = max(worst, error)
        XCTAssertLessThanOrEqual(error, 1e-5, "\(name): relative error \(error)", file: file, line: line)
    }

    var tinyConfig: ModelConfig { get throws { try Fixtures.model("gemma3_tiny").config } }

    // MARK: Numerics against numpy

    func testSAEsEncodeAndDecodeAsNumpy() throws {
        for (name, folder, hook) in [("resid_post", "resid_post/layer_2_width_96_l0_small", "blocks.2.hook_resid_post"),
                                     ("attn_out", "attn_out/layer_1_width_48_l0_small", "blocks.1.attn.hook_z")] {
            let sae = try SAE.load(path: path(folder), backend: backend)
            XCTAssertEqual(sae.hookName, hook)
            XCTAssertFalse(sae.config.applyBDecToInput, "Gemma Scope 2 does not subtract b_dec")
            XCTAssertEqual(sae.config.activation, .jumpReLU)
            try sae.check(against: tinyConfig)
            let acts = try sae.encode(try golden("\(name).x").tensor)
            try assertClose(acts, "\(name).acts")
            try assertClose(try sae.decode(acts), "\(name).output")
        }
        // The params file itself names the folder too.
        XCTAssertEqual(try SAE.load(path: path("resid_post/layer_2_width_96_l0_small/params.safetensors"), backend: backend).dSAE, 96)
    }

    func testTranscodersMatchNumpy() throws {
        for (name, folder, layer, skip, activation) in [
            ("affine", "transcoder/layer_3_width_80_l0_small_affine", 3, true, SAEActivation.jumpReLU),
            ("plain", "transcoder/layer_4_width_64_l0_small", 4, false, .jumpReLU),
            ("topk", "lantern/transcoder_topk_layer_3", 3, false, .topK(6)),
        ] {
            let tc = try GemmaScope2.loadTranscoder(directory: path(folder), backend: backend)
            XCTAssertEqual(tc.config.inputHook, "blocks.\(layer).ln2.hook_normalized")
            XCTAssertEqual(tc.config.outputHook, "blocks.\(layer).hook_mlp_out")
            XCTAssertEqual(tc.hasSkip, skip, name)
            XCTAssertEqual(tc.config.activation, activation, name)
            try tc.check(against: tinyConfig)
            let x = try golden("\(name).x").tensor
            let acts = try tc.encode(x)
            try assertClose(acts, "\(name).acts")
            try assertClose(try tc.decode(acts), "\(name).decoded")
            if let s = try tc.skip(x) { try assertClose(s, "\(name).skip") }
            let (reActs, output) = try tc.reconstruct(x)
            XCTAssertEqual(try backend.read(reActs), try backend.read(acts))
            try assertClose(output, "\(name).output")
        }
    }

    func testCrossLayerTranscoderMatchesNumpy() throws {
        let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: path("clt/width_32_l0_small_affine"), backend: backend)
        XCTAssertEqual(clt.layerCount, 3)
        XCTAssertEqual(clt.inputHooks, (0..<3).map { "blocks.\($0).ln2.hook_normalized" })
        XCTAssertEqual(clt.outputHooks, (0..<3).map { "blocks.\($0).hook_mlp_out" })
        try clt.check(against: tinyConfig)
        let inputs = try (0..<3).map { try golden("clt.x.\($0)").tensor }
        let (acts, outputs) = try clt.reconstruct(inputs)
        for j in 0..<3 {
            try assertClose(acts[j], "clt.acts.\(j)")
            try assertClose(try clt.decode(acts, layer: j), "clt.decoded.\(j)")
            try assertClose(try XCTUnwrap(try clt.skip(layer: j, inputs[j])), "clt.skip.\(j)")
            try assertClose(outputs[j], "clt.output.\(j)")
        }
        // Feature 5 of layer 0 writes W_dec[5, 2, :] into layer 2.
        let stored = try SafetensorsFile(path: path("clt/width_32_l0_small_affine/params_layer_0.safetensors")).tensor("w_dec").floats()
        XCTAssertEqual(try clt.direction(5, from: 0, to: 2), Array(stored[((5 * 3 + 2) * 64)..<((5 * 3 + 3) * 64)]))
        XCTAssertThrowsError(try clt.direction(5, from: 2, to: 1))
    }

    /// Files holding only the slots from layer i on, [d_sae, n − i, d_model], read the same.
    func testCompactCrossLayerDecoderLayout() throws {
        let dir = try temporaryCopy("clt/width_32_l0_small_affine")
        for i in 0..<3 {
            try rewriteParams(dir, file: "params_layer_\(i).safetensors") { tensors in
                let (shape, values) = tensors["w_dec"]!
                tensors["w_dec"] = ([shape[0], 3 - i, shape[2]], GemmaScope2.slots(values, from: i, of: 3, dSAE: shape[0], dOut: shape[2]))
            }
        }
        XCTAssertEqual(try SafetensorsFile(path: dir + "/params_layer_2.safetensors").tensor("w_dec").shape, [32, 1, 64])
        let full = try GemmaScope2.loadCrossLayerTranscoder(directory: path("clt/width_32_l0_small_affine"), backend: backend)
        let compact = try GemmaScope2.loadCrossLayerTranscoder(directory: dir, backend: backend)
        let inputs = try (0..<3).map { try golden("clt.x.\($0)").tensor }
        for (a, b) in zip(try full.reconstruct(inputs).outputs, try compact.reconstruct(inputs).outputs) {
            XCTAssertEqual(try backend.read(a), try backend.read(b))
        }
    }

    // MARK: Hooks

    func testHookMapping() {
        let expected = [
            ("model.layers.5.output", "blocks.5.hook_resid_post"),
            ("model.layers.12.self_attn.o_proj.input", "blocks.12.attn.hook_z"),
            ("model.layers.0.pre_feedforward_layernorm.output", "blocks.0.ln2.hook_normalized"),
            ("model.layers.17.post_feedforward_layernorm.output", "blocks.17.hook_mlp_out"),
            ("model.layers.3.input_layernorm.output", "blocks.3.ln1.hook_normalized"),
            ("model.layers.3.post_attention_layernorm.output", "blocks.3.hook_attn_out"),
            ("model.layers.3.mlp.down_proj.input", "blocks.3.mlp.hook_post"),
            ("model.layers.3.input", "blocks.3.hook_resid_pre"),
        ]
        for (hf, lantern) in expected {
            XCTAssertEqual(GemmaScope2.lanternHook(hfModulePath: hf), lantern, hf)
            XCTAssertEqual(GemmaScope2.hfModulePath(lanternHook: lantern), hf, lantern)
        }
        XCTAssertEqual(GemmaScope2.lanternHook(hfModulePath: "model.language_model.layers.9.output"), "blocks.9.hook_resid_post")
        for unmappable in ["model.layers.3.mlp.output", "model.norm.output", "model.layers.x.output", "model.layers.-1.output",
                           "layers.3.output", "model.layers.3", "model.layers..output", "xmodel.layers.3.output"] {
            XCTAssertNil(GemmaScope2.lanternHook(hfModulePath: unmappable), unmappable)
        }
        for unmappable in ["blocks.3.hook_resid_mid", "hook_embed", "ln_final.hook_normalized", "blocks.3.attn.hook_pattern"] {
            XCTAssertNil(GemmaScope2.hfModulePath(lanternHook: unmappable), unmappable)
        }
    }

    // MARK: Load errors

    /// Each broken copy is refused with one line that holds every fragment.
    func expectError(_ load: () throws -> Void, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            try load()
            XCTFail("accepted; expected \(fragments)", file: file, line: line)
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testBrokenSAEFoldersGiveOneLine() throws {
        let sae = "resid_post/layer_2_width_96_l0_small"
        func load(_ dir: String) throws { _ = try SAE.load(path: dir, backend: backend) }
        let missing = try temporaryCopy(sae)
        try rewriteParams(missing) { $0["threshold"] = nil }
        expectError({ try load(missing) }, ["params.safetensors: threshold: missing (a jump_relu folder needs it)"])
        let shape = try temporaryCopy(sae)
        try rewriteParams(shape) { $0["b_enc"] = ([5], [1, 2, 3, 4, 5]) }
        expectError({ try load(shape) }, ["params.safetensors: b_enc: shape [5], expected [96]", "w_enc is [64, 96]"])
        let rank = try temporaryCopy(sae)
        try rewriteParams(rank) { $0["w_enc"] = ([64 * 96], $0["w_enc"]!.values) }
        expectError({ try load(rank) }, ["w_enc: shape [6144] should have 2 dimensions"])
        let hook = try temporaryCopy(sae)
        try rewriteConfig(hook) { $0["hf_hook_point_in"] = "model.layers.2.mlp.output" }
        expectError({ try load(hook) }, ["config.json: hf_hook_point_in: 'model.layers.2.mlp.output' does not map to a Lantern hook",
                                         "model.layers.L.output"])
        let noHook = try temporaryCopy(sae)
        try rewriteConfig(noHook) { $0["hf_hook_point_in"] = nil }
        expectError({ try load(noHook) }, ["config.json: hf_hook_point_in: missing"])
        let architecture = try temporaryCopy(sae)
        try rewriteConfig(architecture) { $0["architecture"] = "gated" }
        expectError({ try load(architecture) }, ["config.json: architecture: 'gated' is not supported (expected jump_relu"])
        let wrongType = try temporaryCopy(sae)
        try rewriteConfig(wrongType) { $0["width"] = "16k" }
        expectError({ try load(wrongType) }, ["config.json: width: expected a positive integer, got \"16k\""])
        let numericArchitecture = try temporaryCopy(sae)
        try rewriteConfig(numericArchitecture) { $0["architecture"] = 5 }
        expectError({ try load(numericArchitecture) }, ["config.json: architecture: expected a string, got 5"])
        let width = try temporaryCopy(sae)
        try rewriteConfig(width) { $0["width"] = 16384 }
        expectError({ try load(width) }, ["config.json: width: 16384, but w_enc has 96 features"])
        let notJSON = try temporaryCopy(sae)
        try Data("{\"architecture\": ".utf8).write(to: URL(fileURLWithPath: notJSON + "/config.json"))
        expectError({ try load(notJSON) }, ["config.json: file: is not a JSON object"])
        expectError({ try load(self.path("transcoder/layer_3_width_80_l0_small_affine")) },
                    ["hf_hook_point_out", "this folder is a transcoder, not an SAE"])
        expectError({ try load(self.path("clt/width_32_l0_small_affine")) }, ["cross-layer transcoder", "not an SAE"])
        // The model check names the hook and the widths.
        let far = try temporaryCopy(sae)
        try rewriteConfig(far) { $0["hf_hook_point_in"] = "model.layers.9.output" }
        expectError({ try SAE.load(path: far, backend: self.backend).check(against: try self.tinyConfig) },
                    ["no hook 'blocks.9.hook_resid_post'", "7 layers"])
    }

    func testBrokenTranscoderFoldersGiveOneLine() throws {
        let affine = "transcoder/layer_3_width_80_l0_small_affine"
        func load(_ dir: String) throws { _ = try GemmaScope2.loadTranscoder(directory: dir, backend: backend) }
        let noSkip = try temporaryCopy(affine)
        try rewriteParams(noSkip) { $0["affine_skip_connection"] = nil }
        expectError({ try load(noSkip) }, ["config.json: affine_connection: true, but", "has no affine_skip_connection"])
        let skipShape = try temporaryCopy(affine)
        try rewriteParams(skipShape) { $0["affine_skip_connection"] = ([64, 32], [Float](repeating: 0, count: 64 * 32)) }
        expectError({ try load(skipShape) }, ["affine_skip_connection: shape [64, 32], expected [64, 64]"])
        let noOut = try temporaryCopy(affine)
        try rewriteConfig(noOut) { $0["hf_hook_point_out"] = nil }
        expectError({ try load(noOut) }, ["config.json: hf_hook_point_out: missing"])
        let flag = try temporaryCopy(affine)
        try rewriteConfig(flag) { $0["affine_connection"] = "yes" }
        expectError({ try load(flag) }, ["affine_connection: expected true or false, got \"yes\""])
        // Strict JSON types: a number is not a flag, a flag is not an L0.
        let one = try temporaryCopy(affine)
        try rewriteConfig(one) { $0["affine_connection"] = 1 }
        expectError({ try load(one) }, ["affine_connection: expected true or false, got 1"])
        let trueL0 = try temporaryCopy(affine)
        try rewriteConfig(trueL0) { $0["l0"] = true }
        expectError({ try load(trueL0) }, ["l0: expected a finite number ≥ 0, got true"])
        let topk = try temporaryCopy("lantern/transcoder_topk_layer_3")
        try rewriteConfig(topk) { $0["k"] = nil }
        expectError({ try load(topk) }, ["config.json: k: missing (a topk folder needs its k)"])
        let nan = try temporaryCopy(affine)
        try rewriteParams(nan) { $0["b_dec"]!.values[7] = .nan }
        expectError({ try load(nan) }, ["b_dec: contains nan at flat index 7"])

        let clt = "clt/width_32_l0_small_affine"
        func loadCLT(_ dir: String) throws { _ = try GemmaScope2.loadCrossLayerTranscoder(directory: dir, backend: backend) }
        let decoder = try temporaryCopy(clt)
        try rewriteParams(decoder, file: "params_layer_1.safetensors") { $0["w_dec"] = ([32, 4, 64], [Float](repeating: 0, count: 32 * 4 * 64)) }
        expectError({ try loadCLT(decoder) }, ["params_layer_1.safetensors: w_dec: shape [32, 4, 64], expected [32, 3, 64] or, from layer 1 on, [32, 2, 64]"])
        let gap = try temporaryCopy(clt)
        try FileManager.default.moveItem(atPath: gap + "/params_layer_1.safetensors", toPath: gap + "/params_layer_7.safetensors")
        expectError({ try loadCLT(gap) }, ["params_layer_1.safetensors: file: missing: the folder has params_layer_2.safetensors"])
        let mixed = try temporaryCopy(clt)
        try rewriteParams(mixed, file: "params_layer_2.safetensors") { $0["affine_skip_connection"] = nil }
        try rewriteConfig(mixed) { $0["affine_connection"] = nil }
        expectError({ try loadCLT(mixed) }, ["params_layer_2.safetensors: affine_skip_connection: missing, but params_layer_0 has one"])
        // A cross-layer transcoder of width 0, or with TopK's k past its width, is refused as a per-layer one is.
        let empty = try temporaryCopy(clt)
        try rewriteParams(empty, file: "params_layer_0.safetensors") { $0["w_enc"] = ([64, 0], []); $0["w_dec"] = ([0, 3, 64], []) }
        expectError({ try loadCLT(empty) }, ["params_layer_0.safetensors: w_enc: w_enc's width is 0"])
        let wideK = try temporaryCopy(clt)
        try rewriteConfig(wideK) { $0["architecture"] = "topk"; $0["k"] = 33 }
        expectError({ try loadCLT(wideK) }, ["k: 33 is outside 1…32"])
    }

    // MARK: Writer

    func testWriterRoundTripsThroughTheLoader() throws {
        func values(_ n: Int, _ seed: Double) -> [Float] { (0..<n).map { Float(sin(Double($0) * 0.731 + seed)) * 0.4 } }
        let (dIn, dSAE, dOut) = (64, 24, 64)
        for (activation, skip) in [(SAEActivation.jumpReLU, true), (.topK(5), false), (.relu, true)] {
            let config = TranscoderConfig(dIn: dIn, dSAE: dSAE, dOut: dOut, activation: activation,
                                          inputHook: "blocks.2.ln2.hook_normalized", outputHook: "blocks.2.hook_mlp_out")
            let weights = TranscoderWeights(wEnc: values(dIn * dSAE, 1), wDec: values(dSAE * dOut, 2), bEnc: values(dSAE, 3),
                                            bDec: values(dOut, 4), threshold: activation == .jumpReLU ? values(dSAE, 5).map { abs($0) } : nil,
                                            skip: skip ? values(dIn * dOut, 6) : nil)
            for dtype in [DType.f32, .f16] {
                let dir = temporaryDirectory()
                try GemmaScope2.writeTranscoder(config: config, weights: weights, modelName: "google/gemma-3-270m", l0: 12.5,
                                                dtype: dtype, training: ["tokens": 1000], to: dir)
                let back = try GemmaScope2.loadTranscoder(directory: dir, backend: backend)
                XCTAssertEqual(back.config, config)
                let read = try back.weights()
                let rounded: ([Float]) -> [Float] = { dtype == .f16 ? $0.map { Float(Float16($0)) } : $0 }
                XCTAssertEqual(read.wEnc, rounded(weights.wEnc))
                XCTAssertEqual(read.wDec, rounded(weights.wDec))
                XCTAssertEqual(read.bEnc, rounded(weights.bEnc))
                XCTAssertEqual(read.bDec, rounded(weights.bDec))
                XCTAssertEqual(read.threshold, weights.threshold.map(rounded))
                XCTAssertEqual(read.skip, weights.skip.map(rounded))
                let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
                XCTAssertEqual(cfg["hf_hook_point_in"] as? String, "model.layers.2.pre_feedforward_layernorm.output")
                XCTAssertEqual(cfg["hf_hook_point_out"] as? String, "model.layers.2.post_feedforward_layernorm.output")
                XCTAssertEqual(cfg["width"] as? Int, dSAE)
                XCTAssertEqual(cfg["l0"] as? Double, 12.5)
                XCTAssertEqual(cfg["affine_connection"] as? Bool, skip)
                XCTAssertEqual(cfg["k"] as? Int, activation == .topK(5) ? 5 : nil)
            }
        }
        // A published folder written back out loads to the same weights.
        let fixture = try GemmaScope2.loadTranscoder(directory: path("transcoder/layer_3_width_80_l0_small_affine"), backend: backend)
        let dir = temporaryDirectory()
        try GemmaScope2.write(fixture, modelName: "lantern-fixture/gemma3_tiny", to: dir)
        let again = try GemmaScope2.loadTranscoder(directory: dir, backend: backend)
        XCTAssertEqual(again.config, fixture.config)
        XCTAssertEqual(try again.weights().skip, try fixture.weights().skip)
        XCTAssertEqual(try again.weights().wEnc, try fixture.weights().wEnc)
        expectError({
            var c = fixture.config
            c.inputHook = "blocks.3.hook_resid_mid"
            try GemmaScope2.writeTranscoder(config: c, weights: try fixture.weights(), modelName: "m", to: self.temporaryDirectory())
        }, ["input hook 'blocks.3.hook_resid_mid' has no Hugging Face module path"])
        expectError({
            var w = try fixture.weights()
            w.bDec.removeLast()
            try GemmaScope2.writeTranscoder(config: fixture.config, weights: w, modelName: "m", to: self.temporaryDirectory())
        }, ["b_dec: has 63 values, expected shape [64]"])
    }

    // MARK: Temporary copies

    func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "gs2-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func temporaryCopy(_ relative: String) throws -> String {
        let dir = temporaryDirectory()
        try FileManager.default.copyItem(atPath: path(relative), toPath: dir)
        return dir
    }

    func rewriteConfig(_ dir: String, _ change: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/config.json")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: url)
    }

    func rewriteParams(_ dir: String, file: String = "params.safetensors",
                       _ change: (inout [String: (shape: [Int], values: [Float])]) -> Void) throws {
        let path = dir + "/" + file
        let source = try SafetensorsFile(path: path)
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for name in source.tensorNames { tensors[name] = (try source.tensor(name).shape, try source.tensor(name).floats()) }
        change(&tensors)
        try SafetensorsWriter.write(tensors.sorted { $0.key < $1.key }.map { .init(name: $0.key, shape: $0.value.shape, values: $0.value.values) },
                                    to: path)
    }
}
