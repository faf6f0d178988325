import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern superposition`: the toy models of Elhage et al. 2022, trained here, one per sparsity.
struct Superposition: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the toy models of superposition (Elhage et al. 2022) over a sweep of sparsities.",
        discussion: """
            x ∈ Rⁿ: each feature is 0 with probability S, else uniform in [0, 1); feature i weighs rⁱ in \
            the loss. h = W x (W is m × n), x̂ = ReLU(Wᵀ h + b), loss = mean over the batch of Σ_i rⁱ (x_i − x̂_i)². \
            Trained with Adam (peak --lr, half-cosine decay) on the CPU backend. Reports per feature ‖W_i‖ and \
            the superposition Σ_{j≠i} (Ŵ_i·W_j)² (represented features only: norm ≥ 0.5), and per model ‖W‖_F² / m \
            (the inverse of the paper's dimensionality; above n / m when kept features have norms over 1) and the \
            represented features per dimension.
            """
    )

    @Option(name: .long, help: "n: input features.")
    var features = 5

    @Option(name: .long, help: "m: hidden dimensions.")
    var hidden = 2

    @Option(name: .long, help: "S, the probability a feature is zero: one value, or a comma-separated list to sweep.")
    var sparsity = "0,0.8,0.9,0.95,0.98"

    @Option(name: .long, help: "r: feature i's importance is rⁱ (1 = all equal).")
    var importanceDecay: Float = 0.9

    @Option(name: .long, help: "Adam steps per model.")
    var steps = 4000

    @Option(name: .long, help: "Rows per step.")
    var batch = 1024

    @Option(name: .long, help: "Adam's peak learning rate (decays along a half cosine to 0).")
    var lr: Float = 0.01

    @Option(name: .long, help: "Seed for the initial W and every batch (restart r uses seed + r).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Models trained per sparsity (seeds seed, seed + 1, ...); the lowest-loss one is kept.")
    var restarts = 4

    @Flag(name: .long, help: "Print the results as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page (W's columns, norms, the sweep) to this file.")
    var html: String?

    /// The sparsity list parsed and checked (the numeric flags are checked by `validate`).
    func validate() throws {
        try OptionCheck.integer(features, "--features", 1...100_000)
        try OptionCheck.integer(batch, "--batch", 1...1 << 20)
        try OptionCheck.fitsInMemory(OptionCheck.bytes([8, batch, features, MemoryLayout<Float>.size]), "--batch \(batch) with --features \(features)")
        try OptionCheck.integer(hidden, "--hidden", 1...100_000)
        try OptionCheck.integer(steps, "--steps", 1...OptionCheck.maxCount)
        try OptionCheck.number(lr, "--lr", 0...10, above: true)
        try OptionCheck.integer(restarts, "--restarts", 1...10_000)
        try OptionCheck.number(importanceDecay, "--importance-decay", 0...1, above: true)
    }

    func checkedSettings() throws -> (ToyModelSettings, [Double]) {
        func fail(_ message: String) -> LanternError { .invalidArgument(message) }
        let parts = sparsity.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { Double($0) }
        guard !parts.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw fail("--sparsity must be a number or comma-separated numbers in [0, 1), got '\(sparsity)'")
        }
        let sparsities = values.map { $0! }
        if let bad = sparsities.first(where: { !($0 >= 0 && $0 < 1) }) {
            throw fail("--sparsity values must be in [0, 1) (S = 1 would never show a feature), got \(bad)")
        }
        let settings = ToyModelSettings(features: features, hidden: hidden, importanceDecay: importanceDecay,
                                        steps: steps, batchSize: batch, learningRate: lr, seed: seed)
        try settings.validate()
        return (settings, sparsities)
    }

    func run() throws {
        let (settings, sparsities) = try checkedSettings()
        let started = Date()
        let bar = Progress(total: settings.steps * sparsities.count * restarts,
                           label: "training \(sparsities.count) toy model\(sparsities.count == 1 ? "" : "s") (n \(features), m \(hidden))")
        let runs = try ToyModelTrainer.sweep(settings, sparsities: sparsities, restarts: restarts, backend: CPUBackend(),
                                             concurrently: true) { done, _ in bar.update(done) }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        if let html {
            try writeHTML(HTMLReport.page(title: "Toy models of superposition",
                                          subtitle: Self.subtitle(settings, restarts: restarts, seconds: seconds),
                                          sections: HTMLReport.superposition(runs.map(Self.figure))), to: html)
        }
        if json { print(try jsonString(Self.json(settings, restarts: restarts, runs: runs, seconds: seconds))) } else { print(Self.table(settings, runs: runs)) }
    }

    static func subtitle(_ s: ToyModelSettings, restarts: Int, seconds: Double) -> String {
        String(format: "n = %d features, m = %d hidden · importance %gⁱ · %d Adam steps of %d rows, lr %g (cosine) · seed %llu, best of %d per sparsity · trained in %.1f s",
               s.features, s.hidden, Double(s.importanceDecay), s.steps, s.batchSize, Double(s.learningRate), s.seed, restarts, seconds)
    }

    /// What the page draws, in the Interpretability module's terms.
    static func figure(_ run: ToyModelRun) -> ToyModelFigure {
        ToyModelFigure(sparsity: run.settings.sparsity, features: run.model.features, hidden: run.model.hidden,
                       weights: run.model.weights, bias: run.model.bias, importance: run.settings.importance,
                       norms: run.geometry.norms,
                       superposition: run.geometry.representedSuperposition,
                       gram: run.geometry.gram, frobeniusPerDimension: run.geometry.frobeniusPerDimension,
                       representedPerDimension: run.geometry.representedPerDimension, loss: run.loss)
    }

    static func json(_ s: ToyModelSettings, restarts: Int, runs: [ToyModelRun], seconds: Double) -> [String: Any] {
        [
            "features": s.features, "hidden": s.hidden, "importance_decay": Double(s.importanceDecay), "steps": s.steps,
            "batch": s.batchSize, "lr": Double(s.learningRate), "seed": Int(truncatingIfNeeded: s.seed), "restarts": restarts, "seconds": seconds,
            "models": runs.map { run -> [String: Any] in
                let g = run.geometry, m = run.model, superposition = g.representedSuperposition
                var model: [String: Any] = [
                    "sparsity": run.settings.sparsity, "feature_probability": 1 - run.settings.sparsity,
                    "seed": Int(truncatingIfNeeded: run.settings.seed),
                    "loss": run.loss, "frobenius_per_dimension": g.frobeniusPerDimension, "represented": g.represented,
                    "represented_per_dimension": g.representedPerDimension,
                    "W": (0..<m.hidden).map { r in (0..<m.features).map { Double(m.weights[r * m.features + $0]) } },
                    "b": m.bias.map(Double.init),
                    "loss_curve": run.lossCurve.map { ["step": $0.step, "loss": $0.loss] as [String: Any] },
                    "per_feature": (0..<m.features).map { i -> [String: Any] in
                        var f: [String: Any] = ["index": i, "importance": Double(run.settings.importance[i]),
                                                "norm": Double(g.norms[i]), "represented": g.isRepresented(i),
                                                "superposition": superposition[i].map { Double($0) as Any } ?? NSNull(),
                                                "bias": Double(m.bias[i])]
                        if let angles = m.angles { f["angle_degrees"] = angles[i] }
                        return f
                    },
                ]
                if m.hidden == 2 { model["note"] = "angle_degrees: each column of W from the first hidden axis" }
                return model
            },
        ]
    }

    /// A block per model: the summary line, then a row per feature with a bar of its norm.
    static func table(_ s: ToyModelSettings, runs: [ToyModelRun]) -> String {
        var lines: [String] = []
        for run in runs {
            let g = run.geometry, m = run.model, superposition = g.representedSuperposition
            lines.append(String(format: "S = %.3f (1/(1−S) = %.1f)  loss %.5f  ‖W‖_F²/m %.3f  represented %d of %d (%.3f per dimension)  (seed %llu)",
                                run.settings.sparsity, 1 / (1 - run.settings.sparsity), run.loss, g.frobeniusPerDimension,
                                g.represented, m.features, g.representedPerDimension, run.settings.seed))
            lines.append("  feature  importance   ‖W_i‖  superposition     bias" + (m.angles == nil ? "" : "  angle"))
            for i in 0..<m.features {
                let bar = String(repeating: "█", count: Int((min(g.norms[i], 1.5) * 10).rounded()))
                let angle = m.angles.map { String(format: "  %5.1f°", $0[i]) } ?? ""
                // A dropped feature's superposition is not printed: its direction is noise.
                let shown = superposition[i].map { String(format: "%13.3f", Double($0)) } ?? "            —"
                lines.append(String(format: "  %7d  %10.3f  %6.3f  ", i, Double(s.importance[i]), Double(g.norms[i])) + shown
                             + String(format: "  %7.3f", Double(m.bias[i])) + angle + "  " + bar)
            }
            lines.append("")
        }
        if runs.count > 1 {
            lines.append("sweep: ‖W‖_F² / m against sparsity")
            for run in runs {
                let f = run.geometry.frobeniusPerDimension
                lines.append(String(format: "  S = %.3f  %6.3f  ", run.settings.sparsity, f)
                             + String(repeating: "▇", count: Int((f * 8).rounded())))
            }
        }
        return lines.joined(separator: "\n")
    }
}
