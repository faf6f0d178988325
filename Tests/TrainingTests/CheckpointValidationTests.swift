import CPUBackend
import Formats
import XCTest
@testable import Training

/// A damaged or foreign checkpoint is refused with one line naming the file and the field, before
/// any of its tensors reaches the trainer's unchecked loops (each case below once corrupted the
/// heap, trapped, or silently marked a run finished).
final class CheckpointValidationTests: XCTestCase {
    /// A real checkpoint of a short TopK run (3 steps of 10).
    func checkpoint(_ settings: SAETrainingSettings) throws -> String {
        let dir = NSTemporaryDirectory() + "checkpoint-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let data = SyntheticRecoveryTests.sparseData(rows: 700, width: 16, features: 24, active: 3, seed: 5)
        let trainer = try SAETrainer(settings: settings, source: InMemoryActivations(values: data.rows, width: 16), backend: CPUBackend())
        for _ in 0..<3 { try trainer.trainStep() }
        try trainer.state.save(path: dir + "/checkpoint.safetensors")
        return dir + "/checkpoint.safetensors"
    }

    /// Rewrites the checkpoint at `path` with `change` applied to its tensors and metadata.
    func rewrite(_ path: String, to out: String, _ change: (inout [String: [Float]], inout [String: String]) -> Void) throws {
        let file = try SafetensorsFile(path: path)
        var tensors: [String: [Float]] = [:]
        for name in file.tensorNames { tensors[name] = try file.tensor(name).floats() }
        var metadata = file.metadata
        change(&tensors, &metadata)
        try SafetensorsWriter.write(tensors.sorted { $0.key < $1.key }.map { .init(name: $0.key, shape: [$0.value.count], values: $0.value) },
                                    metadata: metadata, to: out)
    }

    func testDamagedCheckpointsAreRefused() throws {
        let settings = SAETrainingSettings(architecture: .topk, width: 40, k: 4, batchSize: 64, tokens: 640, seed: 3, inputWidth: 16)
        let path = try checkpoint(settings)
        XCTAssertEqual(try SAETrainerState.load(path: path).step, 3, "the undamaged checkpoint loads")
        let cases: [(String, (inout [String: [Float]], inout [String: String]) -> Void, String)] = [
            ("short adam_v", { t, _ in t["adam_v.decoder"]!.removeLast(7) }, "adam_v.decoder: 633 values, expected 640"),
            ("short rows_since_fired", { t, _ in t["rows_since_fired"]!.removeLast() }, "rows_since_fired: 39 counters for 40 latents"),
            ("NaN counter", { t, _ in t["rows_since_fired"]![2] = .nan }, "rows_since_fired: nan at index 2"),
            ("huge counter", { t, _ in t["rows_since_fired"]![0] = 1e30 }, "rows_since_fired: 1e+30 at index 0"),
            ("negative counter", { t, _ in t["rows_since_fired"]![5] = -1 }, "rows_since_fired: -1.0 at index 5"),
            ("empty bias", { t, _ in t["encoder_bias"] = [] }, "encoder_bias: 0 values, expected 40"),
            ("NaN weight", { t, _ in t["encoder"]![9] = .infinity }, "encoder: holds inf at index 9"),
            ("negative second moment", { t, _ in t["adam_v.encoder"]![0] = -1 }, "adam_v.encoder: a negative second moment at index 0"),
            ("step -1", { _, m in m["step"] = "-1" }, "step: -1 is outside 0…10"),
            ("step Int.max", { _, m in m["step"] = "\(Int.max)" }, "step: \(Int.max) is outside 0…10"),
            ("adam_step Int.max", { _, m in m["adam_step"] = "\(Int.max)" }, "adam_step"),
            ("input_scale 0", { _, m in m["input_scale"] = "0.0" }, "input_scale: 0.0: expected a finite number > 0"),
            ("aux_k 0", { _, m in m["aux_k"] = "0" }, "aux_k: 0 is outside 1…40"),
            ("aux_coefficient NaN", { _, m in m["aux_coefficient"] = "nan" }, "aux_coefficient: nan"),
            ("sparsity coefficient -1", { _, m in m["sparsity_coefficient"] = "-1.0" }, "sparsity_coefficient: -1.0"),
            ("dead_after_tokens 0", { _, m in m["dead_after_tokens"] = "0" }, "dead_after_tokens: 0 is outside"),
            ("k past the width", { _, m in m["k"] = "41" }, "k: 41 is outside 1…40"),
            ("width 2^40", { _, m in m["width"] = "\(1 << 40)" }, "width: 1099511627776 is outside"),
            ("foreign input width", { _, m in m["input_width"] = "17" }, "expected 17 (input_width)"),
        ]
        let damaged = (path as NSString).deletingLastPathComponent + "/damaged.safetensors"
        for (what, change, expected) in cases {
            try rewrite(path, to: damaged, change)
            XCTAssertThrowsError(try SAETrainerState.load(path: damaged), what) {
                XCTAssertTrue("\($0)".contains(expected), "\(what): '\($0)' lacks '\(expected)'")
                XCTAssertTrue("\($0)".contains("damaged.safetensors"), "\(what): names the file")
            }
        }
    }
}
