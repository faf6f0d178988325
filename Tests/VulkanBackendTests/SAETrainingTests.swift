import Models
import CPUBackend
import Training
import XCTest

/// SAE training on Vulkan computes what it computes on the CPU: the dense objective (matmul,
/// transpose, add on the device) and a few TopK training steps.
final class SAETrainingTests: VulkanTestCase {
    func testDenseObjectiveMatchesCPU() throws {
        for architecture in SAEArchitecture.allCases {
            let settings = SAETrainingSettings(architecture: architecture, width: 24, k: 4, sparsityCoefficient: 0.05,
                                               batchSize: 40, tokens: 40, bandwidth: 0.05, inputWidth: 12)
            var random = SeededGenerator(seed: 4)
            let p = SAEParameters.initial(inputWidth: 12, width: 24, architecture: architecture, initialThreshold: 0.05,
                                          decoderBias: (0..<12).map { _ in 0.1 * random.normal() }, inputScale: 1, random: &random)
            let x = (0..<(40 * 12)).map { _ in random.normal() }
            let dead = (0..<24).map { $0 % 3 == 0 }
            let onGPU = try SAEObjective(backend: gpu, settings: settings)
                .evaluate(p, batch: x, rows: 40, sparsityCoefficient: 0.05, dead: dead, path: .dense)
            let onCPU = try SAEObjective(backend: cpu, settings: settings)
                .evaluate(p, batch: x, rows: 40, sparsityCoefficient: 0.05, dead: dead, path: .dense)
            XCTAssertEqual(onGPU.loss, onCPU.loss, accuracy: 1e-4 * max(1, onCPU.loss), "\(architecture)")
            for (a, b) in zip(onGPU.gradients.encoder + onGPU.gradients.decoder, onCPU.gradients.encoder + onCPU.gradients.decoder) {
                XCTAssertEqual(a, b, accuracy: 1e-4, "\(architecture)")
            }
        }
    }

    func testTopKStepsMatchCPU() throws {
        let values = (0..<(200 * 12)).map { Float(sin(Double($0) * 0.37)) }
        let settings = SAETrainingSettings(architecture: .topk, width: 24, k: 3, batchSize: 50, tokens: 50 * 5, seed: 2, inputWidth: 12)
        let a = try SAETrainer(settings: settings, source: InMemoryActivations(values: values, width: 12), backend: gpu)
        let b = try SAETrainer(settings: settings, source: InMemoryActivations(values: values, width: 12), backend: cpu)
        while !a.isFinished { try a.trainStep(); try b.trainStep() }
        for (u, v) in zip(a.parameters.decoder, b.parameters.decoder) { XCTAssertEqual(u, v, accuracy: 1e-3) }
    }
}
