import Analyses
import Foundation
import Lantern

/// Runs the job `name` (one of `JobCatalog`'s: harvest, sae train, sae sweep, sae eval over
/// harvested rows, transcoder harvest / train / eval, lens train / eval, superposition, features
/// top, neurons top) with the request `request_json` (the CLI's flags as JSON keys: `{"hook": ...,
/// "tokens": ..., "out": ...}`) and returns its result as JSON. The job loads its own model
/// (`model`, `backend`) and writes its output and checkpoints to disk, as the CLI does.
///
/// `progress` gets (done, total, label) as the job advances; a report with total < 0 is a notice,
/// a line to show the user (the lines the CLI writes to standard error: a resumed step, a warning,
/// what was written). When `cancel` returns nonzero the job stops at its next report with the
/// error kind "cancelled"; a training run saves its checkpoint first, so `resume` continues it.
/// `progress` and `cancel` may be NULL. NULL on error.
@_cdecl("lantern_job")
public func lantern_job(_ name: UnsafePointer<CChar>?, _ requestJSON: UnsafePointer<CChar>?, _ progress: ProgressCallback?,
                        _ cancel: CancelCallback?, _ user: UnsafeMutableRawPointer?, _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        guard let name = string(name) else { throw LanternError.invalidArgument("no job name") }
        let report = reporter(progress, user)
        let frontEnd = JobFrontEnd(spelling: .json, notice: { line in report?(-1, -1, line) })
        let monitor = AnalysisMonitor(progress: report, cancelled: asker(cancel, user))
        let data = try JobCatalog.run(name, json: Data((string(requestJSON) ?? "{}").utf8), frontEnd: frontEnd, monitor: monitor)
        return strdup(String(decoding: data, as: UTF8.self))
    }
}
