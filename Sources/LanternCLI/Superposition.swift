import Analyses
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

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.features))
    var features = 5

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.hidden))
    var hidden = 2

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.sparsity))
    var sparsity = "0,0.8,0.9,0.95,0.98"

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.importanceDecay))
    var importanceDecay: Float = 0.9

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.steps))
    var steps = 4000

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.batch))
    var batch = 1024

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.lr))
    var lr: Float = 0.01

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.seed))
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp(SuperpositionRequest.restarts))
    var restarts = 4

    @Flag(name: .long, help: "Print the results as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page (W's columns, norms, the sweep) to this file.")
    var html: String?

    /// `--sparsity` as numbers: the request checks their range.
    func sparsities() throws -> [Double] {
        let parts = sparsity.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--sparsity must be a number or comma-separated numbers in [0, 1), got '\(sparsity)'")
        }
        return parts.map { $0! }
    }

    func request() throws -> SuperpositionRequest {
        SuperpositionRequest(features: features, hidden: hidden, sparsities: try sparsities(), importanceDecay: importanceDecay, steps: steps,
                             batch: batch, lr: lr, seed: seed, restarts: restarts)
    }

    func validate() throws { try JobOutput.validate(try request()) }

    func run() throws {
        let r = try JobOutput.run(try request())
        if let html {
            try writeHTML(HTMLReport.page(title: "Toy models of superposition",
                                          subtitle: Self.subtitle(r.settings, restarts: restarts, seconds: r.seconds),
                                          sections: HTMLReport.superposition(r.runs.map(Self.figure))), to: html)
        }
        if json { try printJSON(r) } else { print(Self.table(r.settings, runs: r.runs)) }
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
