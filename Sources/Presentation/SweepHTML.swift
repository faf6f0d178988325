import Foundation
import Interpretability
import LanternCore
import Models

/// One SAE of a width sweep: its held-out figures.
public struct SweepResult: Sendable {
    public var width: Int
    public var l0: Double
    /// Fraction of variance unexplained, 1 − explained variance, on held-out rows.
    public var fvu: Double
    /// Share of the error's squared norm a linear map of the input predicts.
    public var linearShare: Double
    public var dead: Int
    public var dense: Int
    public var ceLossScore: Double?
    /// CE with the SAE spliced in minus clean CE (nats).
    public var ceDelta: Double?

    public init(width: Int, l0: Double, fvu: Double, linearShare: Double, dead: Int, dense: Int,
                ceLossScore: Double? = nil, ceDelta: Double? = nil) {
        self.width = width
        self.l0 = l0
        self.fvu = fvu
        self.linearShare = linearShare
        self.dead = dead
        self.dense = dense
        self.ceLossScore = ceLossScore
        self.ceDelta = ceDelta
    }
}

/// The sweep page: FVU against width on log-log axes with the fitted power law and its floor,
/// the part of FVU a linear map does not predict, and the table.
public enum SweepHTML {
    public static func section(_ results: [SweepResult], fit: ScalingFit?) -> String {
        var plot = SVGPlot(title: "Unexplained variance against SAE width", xLabel: "latents", yLabel: "FVU (held out)",
                           logX: true, logY: true)
        plot.series.append(.init(label: "FVU", points: results.map { (Double($0.width), $0.fvu) }, color: "#c03030"))
        plot.series.append(.init(label: "not linearly predictable", points: results.map { (Double($0.width), $0.fvu * (1 - $0.linearShare)) },
                                 color: "#3060c0"))
        if let fit, let lo = results.map(\.width).min(), let hi = results.map(\.width).max() {
            let xs = (0...40).map { Double(lo) / 2 * pow(Double(hi) * 8 / Double(lo), Double($0) / 40) }
            plot.series.append(.init(label: String(format: "a·w^−%.2f + c", fit.b), points: xs.map { ($0, fit.predict($0)) },
                                     color: "#c03030", dots: false, dashed: true))
            plot.series.append(.init(label: String(format: "floor c = %.4f", fit.c), points: xs.map { ($0, fit.c) }, color: "#888", dots: false, dashed: true))
        }
        func f(_ v: Double?, _ format: String = "%.4f") -> String { v.map { String(format: format, $0) } ?? "–" }
        let rows = results.map { r in
            "<tr><td>\(r.width)</td><td>\(f(r.l0, "%.1f"))</td><td>\(f(r.fvu))</td><td>\(f(r.linearShare, "%.3f"))</td>"
                + "<td>\(f(r.fvu * (1 - r.linearShare)))</td><td>\(r.dead)</td><td>\(r.dense)</td><td>\(f(r.ceLossScore))</td><td>\(f(r.ceDelta))</td></tr>"
        }.joined()
        let fitText = fit.map { String(format: "<p>Fit: FVU ≈ %.3g · width<sup>−%.3f</sup> + <b>%.4f</b> (rms error in log FVU %.3f). The floor c is what no width of this kind of SAE is expected to explain.</p>", $0.a, $0.b, $0.c, $0.rmsLogError) }
            ?? "<p>The fit needs three or more widths.</p>"
        return "<h2>Dark matter against width</h2>" + plot.svg + fitText
            + "<table><tr><th>width</th><th>L0</th><th>FVU</th><th>linear share of error</th><th>nonlinear FVU</th><th>dead</th><th>dense</th><th>CE-loss score</th><th>ΔCE (nats)</th></tr>"
            + rows + "</table>"
    }
}
