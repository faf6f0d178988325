import Foundation

/// A one-line progress bar on standard error: percentage, rate and time left. Quiet when
/// standard error is not a terminal, except for the final line.
final class Progress {
    let total: Int
    let label: String
    let start = Date()
    private var lastDraw = Date.distantPast
    private let isTerminal = isatty(2) != 0

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    func update(_ done: Int) {
        guard isTerminal, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let fraction = min(1, Double(done) / Double(total))
        let elapsed = Date().timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %@ %3.0f%% %.0fs left ", label, bar, fraction * 100, eta).utf8))
    }

    func finish() {
        let elapsed = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data(String(format: "%@%@ done in %.1fs\n", isTerminal ? "\r" : "", label, elapsed).utf8))
    }
}
