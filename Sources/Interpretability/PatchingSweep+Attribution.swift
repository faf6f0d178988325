import Foundation
import LanternCore
import Models

/// Attribution patching (Nanda 2023; Syed, Rager & Conmy 2023, "Attribution Patching Outperforms
/// Automated Circuit Discovery"): the first-order estimate of every cell of a patching sweep from
/// one forward pass of each prompt and one backward pass of the clean one,
///
///     LD(clean with a patched) ≈ LD(clean) + (a_corrupted − a_clean) · ∂LD/∂a_clean,
///
/// summed over the patched cell's entries (one position; one head's slice for per-head rows).
/// Exact where the metric is linear in the activation; how far it is elsewhere is what
/// `PatchingGrid.agreement(with:)` against the real sweep measures.
extension PatchingSweep {
    public func approximate(_ patterns: [String]) throws -> [PatchingGrid] {
        let families = try self.families(patterns)
        let hooks = Array(Set(families.flatMap { $0.rows.map(\.hook) }))
        let capture = Hooks(capture: HookFilter(hooks))
        try model.forward(corrupted, hooks: capture, logits: .none)
        let n = clean.count
        let metric: GradientMetric
        if let baseline {
            metric = .logitDifference(target: target, baseline: baseline)
        } else {
            var oneHot = [Float](repeating: 0, count: n * model.config.vocabSize)
            oneHot[(n - 1) * model.config.vocabSize + Int(target)] = 1
            metric = .logitGradient(oneHot)
        }
        let result = try model.gradients(tokens: clean, of: metric, hooks: HookFilter(hooks))
        let b = model.backend
        var cache: [String: (clean: [Float], corrupted: [Float], gradient: [Float])] = [:]
        func values(_ hook: String) throws -> (clean: [Float], corrupted: [Float], gradient: [Float]) {
            if let v = cache[hook] { return v }
            guard let a = result.activation(hook), let g = result.gradient(hook), let c = capture.activation(hook) else {
                throw LanternError.backend("the backward pass did not produce \(hook)")
            }
            let v = (try b.read(a), try b.read(c), try b.read(g))
            cache[hook] = v
            return v
        }
        return try families.map { family in
            var differences = [[Float]]()
            for row in family.rows {
                let (a, c, g) = try values(row.hook)
                let width = a.count / n
                let columns = row.columns ?? 0..<width
                differences.append((0..<n).map { p in
                    var delta = 0.0
                    for j in columns { delta += Double(c[p * width + j] - a[p * width + j]) * Double(g[p * width + j]) }
                    return cleanDifference + Float(delta)
                })
            }
            return PatchingGrid(family: family.family, method: .attribution, rows: family.rows,
                                values: differences.map { $0.map(normalised) }, logitDifferences: differences)
        }
    }
}
