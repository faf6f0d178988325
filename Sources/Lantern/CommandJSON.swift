import Foundation

// The JSON objects the CLI's `--json` prints and `lantern serve`'s API returns: one definition,
// so a script can switch between the two without noticing.

extension LensResult {
    /// `lantern lens --json`: every row and position, the answer's rank per layer (and the tuned lens's).
    public func json(model: LanternModel) -> [String: Any] {
        let r = self
        func layers(_ cells: [[LensCell]]) -> [[String: Any]] {
            cells.enumerated().map { row, cells in
                ["hook": r.hookNames[row], "label": r.rowLabels[row], "positions": cells.map { cell -> [String: Any] in
                    var c: [String: Any] = ["top": cell.top.map { ["id": Int($0.token), "text": model.display($0.token), "p": Double($0.probability)] },
                                            "entropy": Double(cell.entropy)]
                    if let rank = cell.targetRank, let p = cell.targetProbability { c["target_rank"] = rank; c["target_p"] = Double(p) }
                    return c
                }] as [String: Any]
            }
        }
        var object: [String: Any] = [
            "tokens": r.tokens.map(Int.init), "token_text": r.tokens.map(model.display), "hooks": r.hookNames,
            "layers": layers(r.cells), "answer": Self.answerJSON(r.answer, r, model: model),
        ]
        if let t = r.target { object["target"] = Int(t) }
        if let cells = r.tunedCells, let answer = r.tunedAnswer {
            object["tuned"] = ["source": r.tunedSource ?? "", "layers": layers(cells), "answer": Self.answerJSON(answer, r, model: model)] as [String: Any]
        }
        return object
    }

    static func answerJSON(_ a: LensAnswer, _ r: LensResult, model: LanternModel) -> [String: Any] {
        ["id": Int(a.token), "text": model.display(a.token), "given": a.given, "ranks": a.ranks,
         "p": a.probabilities.map(Double.init), "first_top_row": a.firstTopRow ?? NSNull(),
         "first_top_layer": a.firstTopRow.map { r.rowLabels[$0] } ?? NSNull(), "hook": a.firstTopRow.map { r.hookNames[$0] } ?? NSNull(),
         "first_top_row_any": a.firstTopRowAny ?? NSNull(), "first_top_layer_any": a.firstTopRowAny.map { r.rowLabels[$0] } ?? NSNull()]
    }

}

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

extension PatchingSweepResult {
    /// `lantern patch sweep --json`: both prompts, the reference logit differences, every grid.
    public func json(model: LanternModel) -> [String: Any] {
        let s = self
        var out: [String: Any] = [
            "clean_tokens": s.cleanTokens.map(Int.init), "corrupted_tokens": s.corruptedTokens.map(Int.init),
            "clean_pieces": s.cleanTokens.map(model.display), "corrupted_pieces": s.corruptedTokens.map(model.display),
            "target": Int(s.target), "clean_logit_difference": Double(s.cleanDifference),
            "corrupted_logit_difference": Double(s.corruptedDifference),
            "grids": s.grids.map { g -> [String: Any] in
                var grid: [String: Any] = ["family": g.family, "method": g.method.rawValue,
                 "rows": g.rows.map { r -> [String: Any] in
                     var d: [String: Any] = ["hook": r.hook, "label": r.label]
                     if let l = r.layer { d["layer"] = l }
                     if let h = r.head { d["head"] = h }
                     return d
                 },
                 "values": g.values.map { $0.map(Double.init) }, "logit_differences": g.logitDifferences.map { $0.map(Double.init) }]
                if g.method == .attribution, let real = s.grid(family: g.family), let (r, worst) = try? g.agreement(with: real) {
                    grid["agreement_with_activation_patching"] = ["correlation": r, "max_abs_difference": worst]
                }
                return grid
            },
        ]
        if let b = s.baseline { out["baseline"] = Int(b) }
        return out
    }
}
