import Foundation
import Interpretability
import LanternCore
import Models

/// A self-contained page of a pruned attribution graph: layers (rows, embeddings at the bottom,
/// logits on top) × positions (columns); features as circles, error nodes (dark matter) as grey
/// squares, edges blue (positive) or red (negative) with width by |weight|; hover for details.
extension HTMLReport {
    /// `contexts(layer, feature)`: a feature's top corpus contexts for its hover (a `TranscoderScan`).
    public static func attributionGraph(_ graph: AttributionGraph, pruned: PrunedGraph, tokens: [String],
                                        logitText: (Int32) -> String, maxLinks: Int = 3000,
                                        contexts: ((Int, Int) -> [String])? = nil) -> [String] {
        let layers = graph.layerCount, n = graph.positionCount
        let cellWidth = 120.0, rowHeight = 34.0, left = 60.0, top = 20.0
        let width = left + cellWidth * Double(n) + 20, height = top + rowHeight * Double(layers + 2) + 40
        func rowY(_ row: Int) -> Double { top + rowHeight * Double(layers + 1 - row) + rowHeight / 2 }   // row 0: embeddings

        // Place kept nodes: cell (row, position), spread within the cell.
        var cells: [String: [Int]] = [:]
        var cellOf: [Int: (row: Int, position: Int)] = [:]
        for (i, node) in graph.nodes.enumerated() where pruned.nodeMask[i] {
            let cell: (Int, Int)
            switch node {
            case let .feature(layer, position, _, _), let .error(layer, position): cell = (layer + 1, position)
            case let .embedding(position, _): cell = (0, position)
            case .logit: cell = (layers + 1, n - 1)
            }
            cellOf[i] = cell
            cells["\(cell.0),\(cell.1)", default: []].append(i)
        }
        var point: [Int: (x: Double, y: Double)] = [:]
        for (_, members) in cells {
            for (k, i) in members.enumerated() {
                let c = cellOf[i]!
                let spread = cellWidth * 0.84 / Double(max(members.count, 1))
                let x = left + cellWidth * Double(c.position) + cellWidth * 0.08 + spread * (Double(k) + 0.5)
                point[i] = (x, rowY(c.row))
            }
        }

        var links: [(t: Int, s: Int, w: Float)] = []
        for t in 0..<graph.count where pruned.nodeMask[t] {
            for s in 0..<graph.count where pruned.edgeMask[t * graph.count + s] && pruned.nodeMask[s] {
                links.append((t, s, graph.edge(target: t, source: s)))
            }
        }
        links.sort { abs($0.w) > abs($1.w) }
        let shownLinks = links.prefix(maxLinks)
        let strongest = Double(shownLinks.first.map { abs($0.w) } ?? 1)

        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" style=\"background:#fff;border:1px solid #e3e3e3\">"
        for row in 0...(layers + 1) {
            let label = row == 0 ? "emb" : row == layers + 1 ? "logit" : "L\(row - 1)"
            svg += "<text x=\"8\" y=\"\(rowY(row) + 4)\" font-size=\"11\" fill=\"#666\">\(label)</text>"
        }
        for p in 0..<n {
            let x = left + cellWidth * (Double(p) + 0.5)
            svg += "<text x=\"\(x)\" y=\"\(height - 12)\" font-size=\"12\" text-anchor=\"middle\" font-family=\"Menlo,monospace\">\(escape(tokens[p]))</text>"
        }
        for link in shownLinks.reversed() {
            guard let a = point[link.s], let b = point[link.t] else { continue }
            let strength = abs(Double(link.w)) / strongest
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-opacity=\"%.2f\" stroke-width=\"%.2f\"/>",
                          a.x, a.y, b.x, b.y, link.w >= 0 ? "#2a5db0" : "#c0392b", 0.15 + 0.6 * strength, 0.4 + 3 * strength)
        }
        for (i, p) in point.sorted(by: { $0.key < $1.key }) {
            var text = describe(graph.nodes[i], tokens: tokens, logitText: logitText)
                + String(format: "\ninput %.4g · influence rank %.3f", Double(graph.inputs[i]), Double(pruned.cumulativeInfluence[i]))
            if case let .feature(layer, _, feature, _) = graph.nodes[i], let examples = contexts?(layer, feature), !examples.isEmpty {
                text += "\ntop contexts:\n" + examples.joined(separator: "\n")
            }
            let tip = escape(text)
            switch graph.nodes[i] {
            case .feature:
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#e08a3c\" data-tip=\"%@\"/>", p.x, p.y, tip)
            case .error:
                svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"#888\" data-tip=\"%@\"/>", p.x - 4.5, p.y - 4.5, tip)
            case .embedding:
                svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"#6aa84f\" data-tip=\"%@\"/>", p.x - 7, p.y - 5, tip)
            case .logit:
                svg += String(format: "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"#8e44ad\" data-tip=\"%@\"/>",
                              p.x, p.y - 7, p.x + 7, p.y, p.x, p.y + 7, p.x - 7, p.y, tip)
            }
        }
        svg += "</svg>"

        let byLayer = pruned.errorShareByLayer.enumerated().map { l, share in
            String(format: "<tr><th>L%d</th><td>%.1f%%</td><td><span class=\"bar\" style=\"width:%dpx;background:#888\"></span></td></tr>",
                   l, 100 * Double(share), Int(400 * Double(share)))
        }.joined()
        let kept = pruned.nodeMask.filter { $0 }.count
        let summary = String(format: """
            <div class="card"><b>Dark matter:</b> %.1f%% of the logits' influence flows from error nodes \
            (replacement score %.3f, completeness score %.3f). %d of %d nodes and %d edges kept; the %d strongest edges drawn.</div>
            """, 100 * Double(pruned.errorShare), Double(pruned.replacementScore), Double(pruned.completenessScore),
                                 kept, graph.count, links.count, shownLinks.count)
        return [summary, "<h2>Pruned graph</h2><div class=\"legend\">orange: features · grey squares: error nodes · green: embeddings · purple: logits · blue/red: positive/negative edges</div>" + svg,
                "<h2>Error influence by layer</h2><table class=\"metrics\">\(byLayer)</table>"]
    }

    static func describe(_ node: GraphNode, tokens: [String], logitText: (Int32) -> String) -> String {
        switch node {
        case let .feature(layer, position, feature, activation):
            return String(format: "feature %d of layer %d at %d (%@), activation %.4g", feature, layer, position, tokens[position], Double(activation))
        case let .error(layer, position): return "error node of MLP \(layer) at \(position) (\(tokens[position]))"
        case let .embedding(position, token): return "embedding of \(tokens[position]) (#\(token)) at \(position)"
        case let .logit(token, probability): return String(format: "logit %@ (p = %.3f)", logitText(token), Double(probability))
        }
    }
}
