import Foundation

// The JSON objects the CLI's `--json` prints and `lantern serve`'s API returns: one definition,
// so a script can switch between the two without noticing.

extension FeatureDashboard {
    /// `lantern feature --json`'s "dashboard": summary, logit effects, histogram, top contexts.
    public func json(_ loaded: LanternModel) -> [String: Any] {
        func tokens(_ list: [TokenLogit]) -> [[String: Any]] {
            list.map { ["id": Int($0.token), "text": loaded.display($0.token), "logit": Double($0.logit)] }
        }
        return [
            unitName: feature, "density": summary.density, "firing": summary.firing, "tokens": summary.tokens,
            "max_activation": Double(summary.maxActivation), "mean_activation": summary.meanActivation,
            unitName == "feature" ? "decoder_norm" : "direction_norm": Double(directionNorm),
            "logits": ["positive": tokens(logits.positive), "negative": tokens(logits.negative),
                       "direction": directionFormula, "final_norm": "gain only (fold_ln)", "softcap": false],
            "histogram": ["lower": Double(histogram.lower), "upper": Double(histogram.upper), "counts": histogram.counts,
                          "sampled": histogram.sampled],
            "examples": examples.map { e -> [String: Any] in
                ["context": e.context, "position": e.position, "window_start": e.windowStart, "max_activation": Double(e.maxActivation),
                 "tokens": e.tokens.map { Int($0) }, "text": e.tokens.map(loaded.display), "activations": e.activations.map(Double.init)]
            },
        ]
    }

}
