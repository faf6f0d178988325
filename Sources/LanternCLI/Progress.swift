import Analyses
import ArgumentParser
import Foundation

/// Progress on standard error: on a terminal, a one-line bar redrawn in place (percentage, time
/// left, `detail`); elsewhere (a pipe, a Slurm log, CI) a plain line every `plainInterval` seconds
/// with the count, the rate and the time left, so that a long run shows it is alive without
/// filling the log with carriage returns. Both end with one "done in" line.
final class Progress {
    let total: Int
    let label: String
    let start = Date()
    private var lastDraw = Date.distantPast
    private let isTerminal = isatty(2) != 0
    /// Seconds between plain lines: 30, or LANTERN_PROGRESS_SECONDS (0: every update).
    let plainInterval: Double
    private var lastPlain: Date

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
        plainInterval = ProcessInfo.processInfo.environment["LANTERN_PROGRESS_SECONDS"].flatMap(Double.init).map { max($0, 0) } ?? 30
        lastPlain = start
    }

    /// `detail` follows the bar (rates, losses).
    func update(_ done: Int, detail: String = "") {
        let now = Date()
        let fraction = min(1, Double(done) / Double(total))
        let elapsed = now.timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        guard isTerminal else {
            guard now.timeIntervalSince(lastPlain) >= plainInterval else { return }
            lastPlain = now
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let line = String(format: "%@: %d/%d (%.0f%%), %.1f/s, %@ left", label, done, total, fraction * 100, rate,
                              Self.duration(fraction > 0 ? eta : .nan))
            FileHandle.standardError.write(Data((line + (detail.isEmpty ? "" : ", " + detail) + "\n").utf8))
            return
        }
        guard now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %@ %3.0f%% %.0fs left %@ ", label, bar, fraction * 100, eta, detail).utf8))
    }

    func finish() {
        let elapsed = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data(String(format: "%@%@ done in %.1fs\n", isTerminal ? "\r" : "", label, elapsed).utf8))
    }

    /// 95 → "1m35s", 4000 → "1h06m"; "?" before anything is done.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}

/// A job run from the command line: its progress reports drawn as `Progress` bars (a new bar when
/// the subject changes: each layer of a transcoder run), its notices as lines on standard error
/// between them, and its refusals as usage errors (exit 2), as the flags' own checks are.
final class JobOutput: @unchecked Sendable {
    private var bar: Progress?
    private var subject = ""

    private func report(_ done: Int, _ total: Int, _ label: String) {
        let (subject, detail) = JobProgress.parts(label)
        if bar == nil || subject != self.subject {
            finish()
            bar = Progress(total: total, label: subject)
            self.subject = subject
        }
        bar?.update(done, detail: detail)
    }

    private func notice(_ line: String) {
        finish()
        note(line)
    }

    private func finish() {
        bar?.finish()
        bar = nil
    }

    /// Runs `request` (which the command's `validate` checked) with a bar and its notices.
    @discardableResult
    static func run<R: JobRequest>(_ request: R) throws -> R.Result {
        try run { monitor, frontEnd in
            var request = request
            request.frontEnd = frontEnd
            return try request.run(monitor: monitor)
        }
    }

    /// Runs work outside a job (the corpus scan before a dashboard) as a job runs: bars, notices,
    /// refusals as usage errors.
    static func run<T>(_ body: (AnalysisMonitor, JobFrontEnd) throws -> T) throws -> T {
        let output = JobOutput()
        let frontEnd = JobFrontEnd(spelling: .cli, notice: { output.notice($0) }, fetchProgress: fetchProgress)
        let result = try usageErrors { try body(AnalysisMonitor(progress: { output.report($0, $1, $2) }), frontEnd) }
        output.finish()
        return result
    }

    /// A request's own checks, as the flags' checks: one line naming the flag, exit 2.
    static func validate<R: JobRequest>(_ request: R) throws {
        var request = request
        request.frontEnd = JobFrontEnd(spelling: .cli)
        try usageErrors { try request.validate() }
    }

    /// What a job refuses (a value, a file that contradicts the request) is a usage error.
    private static func usageErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AnalysisError where error.kind != .cancelled {
            throw ValidationError(error.message)
        }
    }
}

extension ModelOptions {
    /// The model and backend as a job asks for them.
    var job: JobModel { JobModel(model: model, backend: backend, verbose: verbose) }
}
