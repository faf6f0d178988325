import Foundation
import Interpretability
import LanternCore
import Models

/// A small line-and-point chart as inline SVG (no scripts, no network), for loss curves and
/// scaling plots. Either axis may be logarithmic; non-finite or (on a log axis) non-positive
/// points are left out rather than drawn at the edge.
public struct SVGPlot: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        /// Points drawn as dots (measurements) or joined by a line (curves, fits).
        public var dots: Bool
        public var dashed: Bool
        /// Dots joined by a line as well (a measured curve).
        public var joined: Bool

        public init(label: String, points: [(x: Double, y: Double)], color: String, dots: Bool = true, dashed: Bool = false, joined: Bool = false) {
            self.label = label
            self.points = points
            self.color = color
            self.dots = dots
            self.dashed = dashed
            self.joined = joined
        }
    }

    /// Where the legend goes inside the plot (out of the curves' way).
    public enum Corner: Sendable { case topLeft, topRight, bottomLeft, bottomRight }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logX = false
    public var logY = false
    public var series: [Series] = []
    public var legend = Corner.topRight
    public var width = 560.0
    public var height = 320.0

    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, logY: Bool = false, series: [Series] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.logY = logY
        self.series = series
    }

    func usable(_ p: (x: Double, y: Double)) -> Bool {
        p.x.isFinite && p.y.isFinite && (!logX || p.x > 0) && (!logY || p.y > 0)
    }

    /// The chart as an `<svg>` element.
    public var svg: String {
        let left = 64.0, right = 16.0, top = 28.0, bottom = 44.0
        let plotW = width - left - right, plotH = height - top - bottom
        let all = series.flatMap { $0.points.filter(usable) }
        func t(_ v: Double, _ log: Bool) -> Double { log ? log10(v) : v }
        var (x0, x1) = (all.map { t($0.x, logX) }.min() ?? 0, all.map { t($0.x, logX) }.max() ?? 1)
        var (y0, y1) = (all.map { t($0.y, logY) }.min() ?? 0, all.map { t($0.y, logY) }.max() ?? 1)
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let padY = (y1 - y0) * 0.05
        y0 -= padY; y1 += padY
        func px(_ x: Double) -> Double { left + (t(x, logX) - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (t(y, logY) - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func tickLabel(_ v: Double, _ log: Bool) -> String {
            let value = log ? pow(10, v) : v
            return abs(value) >= 1e4 || (abs(value) < 1e-2 && value != 0) ? String(format: "%.1e", value) : String(format: "%.3g", value)
        }
        var out = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' font-family='sans-serif' font-size='11'>"
        out += "<text x='\(f(left))' y='16' font-size='13' font-weight='bold'>\(HTMLReport.escape(title))</text>"
        out += "<rect x='\(f(left))' y='\(f(top))' width='\(f(plotW))' height='\(f(plotH))' fill='none' stroke='#999'/>"
        for i in 0...4 {
            let fx = x0 + Double(i) / 4 * (x1 - x0), fy = y0 + Double(i) / 4 * (y1 - y0)
            let sx = left + Double(i) / 4 * plotW, sy = top + (1 - Double(i) / 4) * plotH
            out += "<line x1='\(f(sx))' y1='\(f(top))' x2='\(f(sx))' y2='\(f(top + plotH))' stroke='#eee'/>"
            out += "<line x1='\(f(left))' y1='\(f(sy))' x2='\(f(left + plotW))' y2='\(f(sy))' stroke='#eee'/>"
            out += "<text x='\(f(sx))' y='\(f(top + plotH + 14))' text-anchor='middle'>\(tickLabel(fx, logX))</text>"
            out += "<text x='\(f(left - 4))' y='\(f(sy + 4))' text-anchor='end'>\(tickLabel(fy, logY))</text>"
        }
        out += "<text x='\(f(left + plotW / 2))' y='\(f(height - 6))' text-anchor='middle'>\(HTMLReport.escape(xLabel))\(logX ? " (log)" : "")</text>"
        out += "<text transform='translate(12 \(f(top + plotH / 2))) rotate(-90)' text-anchor='middle'>\(HTMLReport.escape(yLabel))\(logY ? " (log)" : "")</text>"
        for (i, s) in series.enumerated() {
            let points = s.points.filter(usable)
            if !s.dots || s.joined, points.count > 1 {
                let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                out += "<polyline fill='none' stroke='\(s.color)' stroke-width='1.5'\(s.dashed ? " stroke-dasharray='5 3'" : "") points='\(path)'/>"
            }
            if s.dots {
                for p in points {
                    out += "<circle cx='\(f(px(p.x)))' cy='\(f(py(p.y)))' r='3' fill='\(s.color)'><title>\(HTMLReport.escape(s.label)): \(p.x), \(p.y)</title></circle>"
                }
            }
            let lx = legend == .topLeft || legend == .bottomLeft ? left + 10 : left + plotW - 150
            let ly = legend == .topLeft || legend == .topRight ? top + 12 + Double(i) * 14 : top + plotH - 2 - Double(series.count - i) * 14
            out += "<rect x='\(f(lx))' y='\(f(ly - 8))' width='10' height='3' fill='\(s.color)'/>"
            out += "<text x='\(f(lx + 14))' y='\(f(ly - 3))'>\(HTMLReport.escape(s.label))</text>"
        }
        return out + "</svg>"
    }

    /// Charts in a row, as one `<svg>` element.
    public static func row(_ plots: [SVGPlot]) -> String {
        var x = 0.0, inner = ""
        for p in plots {
            inner += "<g transform='translate(\(Int(x)) 0)'>\(p.svg)</g>"
            x += p.width
        }
        let height = plots.map(\.height).max() ?? 0
        return "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(x))' height='\(Int(height))'><rect width='100%' height='100%' fill='white'/>\(inner)</svg>"
    }
}
