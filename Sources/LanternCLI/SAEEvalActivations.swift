import ArgumentParser
import Foundation
import Lantern
import Training

extension SAEEval {
    func validate() throws {
        if activations != nil && !corpus.isEmpty { throw ValidationError("give --activations or --corpus, not both") }
        try OptionCheck.integer(rows, "--rows", 1...OptionCheck.maxCount)
        try OptionCheck.number(denseThreshold, "--dense-threshold", 0...1, above: true)
    }

    /// `sae eval --activations DIR`: the figures that need many tokens (dead and dense latents over
    /// a million rows, say) from harvested activations, without running the model.
    func evaluateRows(_ directory: String) throws {
        let source = try HarvestedActivations(directory: directory)
        let sae = try SAE.load(path: saeOptions.sae, backend: try model.makeBackend(), hook: saeOptions.hook)
        guard source.hook == sae.hookName, source.width == sae.dIn else {
            throw ValidationError("\(directory) holds \(source.hook) (width \(source.width)); \(sae.source) reads \(sae.hookName) (width \(sae.dIn))")
        }
        let total = min(rows ?? source.rowCount, source.rowCount)
        var stats = SAERowStatistics(dIn: sae.dIn, dSAE: sae.dSAE)
        let progress = Progress(total: total, label: "sae eval")
        for start in stride(from: 0, to: total, by: 4096) {
            try stats.add(try source.rows(Array(start..<min(total, start + 4096))), sae: sae)
            progress.update(stats.rows)
        }
        progress.finish()
        guard stats.rows > 0 else { throw LanternError.invalidArgument("sae eval: \(directory) holds no activation rows to evaluate") }
        let dense = stats.dense(threshold: denseThreshold)
        if json {
            print(try jsonString(["sae": sae.source, "hook": sae.hookName, "activations": directory, "rows": stats.rows,
                                  "l0": stats.l0, "explained_variance": stats.explainedVariance,
                                  "dead_features": stats.dead, "dense_features": dense, "dense_threshold": denseThreshold,
                                  "d_sae": sae.dSAE, "feature_frequency": stats.frequency]))
            return
        }
        print(String(format: "%d rows of %@: L0 %.2f, explained variance %.4f", stats.rows, directory, stats.l0, stats.explainedVariance))
        print(String(format: "dead (never fired) %d of %d (%.2f%%), dense (> %g) %d (%.2f%%)", stats.dead, sae.dSAE,
                     100 * Double(stats.dead) / Double(sae.dSAE), denseThreshold, dense, 100 * Double(dense) / Double(sae.dSAE)))
    }
}
