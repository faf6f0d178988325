import Analyses
import Foundation
import Lantern

/// Progress of a long analysis: done of total steps, and what is running.
public typealias ProgressCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Int64, UnsafePointer<CChar>?) -> Void
/// Nonzero when the caller wants the analysis stopped (Python's Ctrl-C).
public typealias CancelCallback = @convention(c) (UnsafeMutableRawPointer?) -> Int32

/// Runs the analysis `name` (one of `AnalysisCatalog`'s: next, generate, lens, attention,
/// features, neurons, steer, patch, patch sweep, attribute, feature, neuron, graph) on the model
/// with the request `request_json` (the server's request body) and returns its result as JSON, the
/// same bytes as `lantern <name> --json` and the server's response. `saes` (`sae_count` SAE
/// handles, NULL when 0) are what the request's `sae` index chooses among; `resources_json` (NULL
/// or a JSON object) names the files the analysis reads beside them: `{"tuned": folder,
/// "transcoders": [folders]}`. `progress` and `cancel` may be NULL. NULL on error.
@_cdecl("lantern_analyze")
public func lantern_analyze(_ modelHandle: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ requestJSON: UnsafePointer<CChar>?,
                            _ saes: UnsafePointer<UnsafeMutableRawPointer?>?, _ saeCount: Int64, _ resourcesJSON: UnsafePointer<CChar>?,
                            _ progress: ProgressCallback?, _ cancel: CancelCallback?, _ user: UnsafeMutableRawPointer?,
                            _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        let m = try model(modelHandle)
        guard let name = string(name) else { throw LanternError.invalidArgument("no analysis name") }
        guard saeCount >= 0, saeCount == 0 || saes != nil else { throw LanternError.invalidArgument("no SAE handles (null pointer)") }
        let handles = saeCount > 0 ? Array(UnsafeBufferPointer(start: saes, count: Int(saeCount))) : []
        let resources = try RequestFields(json: Data((string(resourcesJSON) ?? "{}").utf8))
        try resources.requireKnown([tunedField, transcodersField])
        let context = AnalysisContext(model: m, saes: try handles.map { try sae($0) },
                                      tuned: try resources.string(tunedField).map { try TunedLens.load(directory: $0) })
        if let folders = try resources.strings(transcodersField) { context.replacement = try TranscoderFolders.replacementModel(folders, m) }
        context.noTranscoders = "no transcoders were given: pass transcoders=[folders]"
        context.noSAE = "no SAE was given: pass saes=[lantern.SAE.load(...)]"
        let monitor = AnalysisMonitor(progress: reporter(progress, user), cancelled: asker(cancel, user))
        let data = try AnalysisCatalog.run(name, json: Data((string(requestJSON) ?? "{}").utf8), on: context, monitor: monitor)
        return strdup(String(decoding: data, as: UTF8.self))
    }
}

/// The C progress callback as a Swift closure (the user pointer carried as an address, so that
/// the closure is Sendable); `lantern_analyze` and `lantern_job` both report through it.
func reporter(_ callback: ProgressCallback?, _ user: UnsafeMutableRawPointer?) -> (@Sendable (Int, Int, String) -> Void)? {
    guard let callback else { return nil }
    let address = Int(bitPattern: user)
    return { done, total, label in
        label.withCString { callback(UnsafeMutableRawPointer(bitPattern: address), Int64(done), Int64(total), $0) }
    }
}

/// The C cancel callback as a Swift closure.
func asker(_ callback: CancelCallback?, _ user: UnsafeMutableRawPointer?) -> (@Sendable () -> Bool)? {
    guard let callback else { return nil }
    let address = Int(bitPattern: user)
    return { callback(UnsafeMutableRawPointer(bitPattern: address)) != 0 }
}

private let tunedField = Field("tuned", .string(choices: []), "A tuned lens folder.")
private let transcodersField = Field("transcoders", .strings, "Transcoder folders, folders holding them, or one cross-layer transcoder folder.")
