import Foundation
import Interpretability
import LanternCore
import Models

/// One trained toy model of superposition as the page draws it. The trainer lives in the Training
/// module, which this one does not import; the CLI fills this in.
public struct ToyModelFigure: Sendable {
    public var sparsity: Double
    public var features: Int
    public var hidden: Int
    /// W [m, n] row-major: column i is feature i's direction.
    public var weights: [Float]
    public var bias: [Float]
    public var importance: [Float]
    public var norms: [Float]
    /// Per feature; nil for a feature the model does not represent (its superposition means nothing).
    public var superposition: [Float?]
    /// WᵀW [n, n] row-major.
    public var gram: [Float]
    /// ‖W‖_F² / m.
    public var frobeniusPerDimension: Double
    /// Represented features per hidden dimension (at most n / m).
    public var representedPerDimension: Double
    public var loss: Double

    public init(sparsity: Double, features: Int, hidden: Int, weights: [Float], bias: [Float], importance: [Float],
                norms: [Float], superposition: [Float?], gram: [Float], frobeniusPerDimension: Double,
                representedPerDimension: Double, loss: Double) {
        self.sparsity = sparsity
        self.features = features
        self.hidden = hidden
        self.weights = weights
        self.bias = bias
        self.importance = importance
        self.norms = norms
        self.superposition = superposition
        self.gram = gram
        self.frobeniusPerDimension = frobeniusPerDimension
        self.representedPerDimension = representedPerDimension
        self.loss = loss
    }
}

/// The toy-model page's sections (inline SVG): W's columns in 2-D (m = 2) and WᵀW, the norms
/// coloured by superposition, and features per dimension against sparsity.
extension HTMLReport {
    public static func superposition(_ figures: [ToyModelFigure]) -> [String] {
        [geometrySection(figures), normsSection(figures), sweepSection(figures)]
    }

    static func number(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

    static func title(_ f: ToyModelFigure) -> String { "S = \(number(f.sparsity, 3)) · ‖W‖_F²/m \(number(f.frobeniusPerDimension, 2)) · represented/m \(number(f.representedPerDimension, 2))" }

    /// Importance as the paper colours it: most important yellow, least purple (a viridis-like ramp).
    static func importanceColor(_ f: ToyModelFigure, _ i: Int) -> String {
        let lo = Double(f.importance.min() ?? 0), hi = Double(f.importance.max() ?? 1)
        let t = hi > lo ? (Double(f.importance[i]) - lo) / (hi - lo) : 1
        return ramp(t, from: (68, 1, 84), to: (243, 199, 30))
    }

    /// Superposition 0 → dark blue (a dimension of its own), ≥ 1 → gold (shares its direction).
    static func superpositionColor(_ value: Float?) -> String {
        guard let value else { return "#bbb" }   // not represented
        return ramp(Double(min(max(value, 0), 1)), from: (25, 40, 110), to: (240, 185, 35))
    }

    static func ramp(_ t: Double, from a: (Double, Double, Double), to b: (Double, Double, Double)) -> String {
        let t = min(max(t, 0), 1)
        return "rgb(\(Int(a.0 + (b.0 - a.0) * t)),\(Int(a.1 + (b.1 - a.1) * t)),\(Int(a.2 + (b.2 - a.2) * t)))"
    }

    static func featureTip(_ f: ToyModelFigure, _ i: Int) -> String {
        let superposition = f.superposition[i].map { String(format: "%.3f", Double($0)) } ?? "— (not represented)"
        return String(format: "feature %d\nimportance %.3f\n‖W_i‖ %.3f\nsuperposition %@\nbias %.3f", i, Double(f.importance[i]),
                      Double(f.norms[i]), superposition, Double(f.bias[i]))
    }

    static func geometrySection(_ figures: [ToyModelFigure]) -> String {
        var cards = ""
        for f in figures {
            var svg = ""
            if f.hidden == 2 {
                // The unit circle and axes, then a spoke per feature (least important first, so the
                // important ones are drawn on top).
                let size = 200.0, c = size / 2, scale = c / 1.35
                svg += "<svg width=\"\(Int(size))\" height=\"\(Int(size))\" viewBox=\"0 0 \(Int(size)) \(Int(size))\">"
                svg += "<line x1=\"0\" y1=\"\(c)\" x2=\"\(size)\" y2=\"\(c)\" stroke=\"#ddd\"/><line x1=\"\(c)\" y1=\"0\" x2=\"\(c)\" y2=\"\(size)\" stroke=\"#ddd\"/>"
                svg += "<circle cx=\"\(c)\" cy=\"\(c)\" r=\"\(number(scale))\" fill=\"none\" stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>"
                for i in (0..<f.features).reversed() {
                    let x = c + Double(f.weights[i]) * scale, y = c - Double(f.weights[f.features + i]) * scale
                    let colour = importanceColor(f, i)
                    svg += "<g data-tip=\"\(escape(featureTip(f, i)))\"><line x1=\"\(c)\" y1=\"\(c)\" x2=\"\(number(x))\" y2=\"\(number(y))\" stroke=\"\(colour)\" stroke-width=\"2.5\"/>"
                    svg += "<circle cx=\"\(number(x))\" cy=\"\(number(y))\" r=\"5\" fill=\"\(colour)\" stroke=\"#333\" stroke-width=\"0.5\"/>"
                    let lx = c + (x - c) * 1.18 + (abs(x - c) + abs(y - c) < 8 ? 8 : 0), ly = c + (y - c) * 1.18 + 4
                    svg += "<text x=\"\(number(lx))\" y=\"\(number(ly))\" font-size=\"11\" text-anchor=\"middle\">\(i)</text></g>"
                }
                svg += "</svg><br>"
            }
            svg += gramHeatmap(f)
            cards += "<div class=\"card\" style=\"display:inline-block;vertical-align:top;margin-right:8px\"><b>\(escape(title(f)))</b><br>\(svg)</div>"
        }
        let what = figures.first?.hidden == 2
            ? "Each spoke is a column W_i of W: where feature i lands in the 2-D hidden space (dashed: the unit circle). Colour: importance (yellow = most important, purple = least). Below: WᵀW (red +, blue −) and the bias b."
            : "WᵀW per model (red +, blue −; off-diagonal entries are interference between features) and the bias b. The 2-D picture of W's columns needs --hidden 2."
        return "<h2>Where the features go</h2><div class=\"legend\">\(what) Hover for figures.</div>\(cards)"
    }

    /// WᵀW as an n × n grid of cells, with b as a row below.
    static func gramHeatmap(_ f: ToyModelFigure) -> String {
        let n = f.features
        let cell = max(2.0, min(14.0, 180.0 / Double(n)))
        let side = cell * Double(n)
        var svg = "<svg width=\"\(Int(side))\" height=\"\(Int(side + cell * 1.5))\">"
        func fill(_ v: Float) -> String {
            let t = Double(min(abs(v), 1))
            return v >= 0 ? ramp(t, from: (255, 255, 255), to: (192, 57, 43)) : ramp(t, from: (255, 255, 255), to: (41, 98, 180))
        }
        for i in 0..<n {
            for j in 0..<n {
                let v = f.gram[i * n + j]
                svg += "<rect x=\"\(number(Double(j) * cell))\" y=\"\(number(Double(i) * cell))\" width=\"\(number(cell))\" height=\"\(number(cell))\" fill=\"\(fill(v))\" data-tip=\"\(escape(String(format: "W_%d·W_%d = %.3f", i, j, Double(v))))\"/>"
            }
        }
        for j in 0..<n {
            svg += "<rect x=\"\(number(Double(j) * cell))\" y=\"\(number(side + cell * 0.5))\" width=\"\(number(cell))\" height=\"\(number(cell))\" fill=\"\(fill(f.bias[j]))\" data-tip=\"\(escape(String(format: "b_%d = %.3f", j, Double(f.bias[j]))))\"/>"
        }
        return svg + "</svg>"
    }

    static func normsSection(_ figures: [ToyModelFigure]) -> String {
        let top = max(1.2, Double(figures.flatMap(\.norms).max() ?? 1))
        var cards = ""
        for f in figures {
            let row = max(4.0, min(14.0, 160.0 / Double(f.features))), width = 180.0, label = 22.0
            var svg = "<svg width=\"\(Int(label + width + 8))\" height=\"\(Int(row * Double(f.features) + 14))\">"
            let one = label + width / top
            svg += "<line x1=\"\(number(one))\" y1=\"0\" x2=\"\(number(one))\" y2=\"\(number(row * Double(f.features)))\" stroke=\"#999\" stroke-dasharray=\"2 2\"/>"
            for i in 0..<f.features {
                let y = Double(i) * row
                svg += "<g data-tip=\"\(escape(featureTip(f, i)))\"><rect x=\"\(label)\" y=\"\(number(y + 1))\" width=\"\(number(max(0.5, Double(f.norms[i]) / top * width)))\" height=\"\(number(row - 2))\" fill=\"\(superpositionColor(f.superposition[i]))\"/>"
                if row >= 9 { svg += "<text x=\"\(label - 4)\" y=\"\(number(y + row - 3))\" font-size=\"10\" text-anchor=\"end\">\(i)</text>" }
                svg += "</g>"
            }
            svg += "<text x=\"\(number(one))\" y=\"\(number(row * Double(f.features) + 12))\" font-size=\"10\" text-anchor=\"middle\">1</text></svg>"
            cards += "<div class=\"card\" style=\"display:inline-block;vertical-align:top;margin-right:8px\"><b>\(escape(title(f)))</b><br>\(svg)</div>"
        }
        let legend = "<span style=\"display:inline-block;width:120px;height:10px;vertical-align:middle;background:linear-gradient(90deg,\(superpositionColor(0)),\(superpositionColor(1)))\"></span>"
        return "<h2>‖W_i‖ and superposition per feature</h2><div class=\"legend\">Bar length: ‖W_i‖ (dashed line at 1; near 0 = the feature is dropped). Colour: Σ_{j≠i} (Ŵ_i·W_j)², 0 \(legend) ≥ 1 — dark = a dimension of its own, gold = shares its direction with others.</div>\(cards)"
    }

    /// Features per dimension against 1/(1−S) on a log axis, as in the paper's sweep.
    static func sweepSection(_ figures: [ToyModelFigure]) -> String {
        guard let first = figures.first else { return "" }
        let (w, h, left, right, top, bottom) = (560.0, 300.0, 50.0, 20.0, 16.0, 40.0)
        let xs = figures.map { log10(1 / (1 - $0.sparsity)) }
        let xMax = max(1, (xs.max() ?? 1).rounded(.up)), allN = Double(first.features) / Double(first.hidden)
        let yMax = max(1, (max(figures.map(\.frobeniusPerDimension).max() ?? 1, allN) * 1.1).rounded(.up))
        func px(_ x: Double) -> Double { left + x / xMax * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - y / yMax * (h - top - bottom) }
        var svg = "<svg width=\"\(Int(w))\" height=\"\(Int(h))\" style=\"background:#fff;border:1px solid #e3e3e3\">"
        // Ticks at 1, 2, 5, 10, 20, 50, ... up to the axis end.
        var decade = 1.0
        while log10(decade) <= xMax + 1e-9 {
            for m in [1.0, 2.0, 5.0] where log10(decade * m) <= xMax + 1e-9 {
                let x = px(log10(decade * m))
                svg += "<line x1=\"\(number(x))\" y1=\"\(top)\" x2=\"\(number(x))\" y2=\"\(h - bottom)\" stroke=\"#eee\"/>"
                svg += "<text x=\"\(number(x))\" y=\"\(h - bottom + 14)\" font-size=\"10\" text-anchor=\"middle\">\(Int(decade * m))</text>"
            }
            decade *= 10
        }
        var y = 0.0
        let yStep = yMax > 8 ? (yMax / 8).rounded(.up) : (yMax > 3 ? 1 : 0.5)
        while y <= yMax + 1e-9 {
            svg += "<line x1=\"\(left)\" y1=\"\(number(py(y)))\" x2=\"\(w - right)\" y2=\"\(number(py(y)))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(number(py(y) + 3))\" font-size=\"10\" text-anchor=\"end\">\(number(y, yStep < 1 ? 1 : 0))</text>"
            y += yStep
        }
        for (value, label) in [(1.0, "1 feature per dimension"), (allN, "all \(first.features) features at norm 1 (n/m)")] {
            svg += "<line x1=\"\(left)\" y1=\"\(number(py(value)))\" x2=\"\(w - right)\" y2=\"\(number(py(value)))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>"
            svg += "<text x=\"\(w - right - 4)\" y=\"\(number(py(value) - 4))\" font-size=\"10\" fill=\"#666\" text-anchor=\"end\">\(escape(label))</text>"
        }
        let points = zip(xs, figures).map { "\(number(px($0))),\(number(py($1.frobeniusPerDimension)))" }
        svg += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"#4a7bd0\" stroke-width=\"2\"/>"
        for (x, f) in zip(xs, figures) {
            let tip = String(format: "S = %.3f (1/(1−S) = %.1f)\n‖W‖_F² / m %.3f\nrepresented per dimension %.3f\nloss %.5f", f.sparsity, 1 / (1 - f.sparsity), f.frobeniusPerDimension, f.representedPerDimension, f.loss)
            svg += "<circle cx=\"\(number(px(x)))\" cy=\"\(number(py(f.frobeniusPerDimension)))\" r=\"5\" fill=\"#4a7bd0\" stroke=\"#fff\" data-tip=\"\(escape(tip))\"/>"
        }
        svg += "<text x=\"\(number((left + w - right) / 2))\" y=\"\(h - 6)\" font-size=\"11\" text-anchor=\"middle\">1 / (1 − S)  (log scale; 1 = dense)</text>"
        svg += "<text x=\"12\" y=\"\(number((top + h - bottom) / 2))\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(number((top + h - bottom) / 2)))\">‖W‖_F² / m</text></svg>"
        let note = figures.count == 1 ? " (one model: give --sparsity a comma-separated list to sweep)" : ""
        return "<h2>‖W‖_F² / m against sparsity</h2><div class=\"legend\">‖W‖_F² / m, the inverse of the paper's dimensionality D* = m / ‖W‖_F²: features per hidden dimension while every kept feature has norm 1 (kept features with larger norms push it past n / m; hover a point for the represented features per dimension)\(note).</div><div class=\"card\">\(svg)</div>"
    }
}
