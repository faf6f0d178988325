import ArgumentParser
import Foundation
import Training

/// What a training run read, saved beside its checkpoint (`run.json`) so that `--resume` can
/// refuse to continue it on other data: the activations folder (absolute) and the rows trained on.
/// The checkpoint itself holds the optimiser's settings.
struct TrainingRun: Codable, Equatable {
    var activations: String
    var rows: Int

    init(activations: String, rows: Int) {
        self.activations = Self.absolute(activations)
        self.rows = rows
    }

    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func file(in folder: String) -> String { (folder as NSString).appendingPathComponent("run.json") }

    /// Whether a run's file (its checkpoint, its run.json) is at `path`. Anything there that cannot
    /// be read as a file (a dangling link, a symlink loop) is an error, not "no file": that would
    /// restart the run from step 0 over the existing one.
    static func fileExists(_ path: String) throws -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else { return false }   // nothing there at all
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ValidationError("\(path) exists but is not a readable file (a directory, a dangling link or a symlink loop): fix or remove it")
        }
        return true
    }

    func save(folder: String) throws {
        let data = try JSONEncoder().encode(self)
        try data.write(to: URL(fileURLWithPath: Self.file(in: folder)), options: .atomic)
    }

    /// Refuses to resume `trainer` when this command's settings or data differ from the run that
    /// wrote its checkpoint, listing every difference. (Checkpoints from before run.json was
    /// written are checked on their settings alone.)
    static func checkResume(_ trainer: SAETrainer, options: DictionaryTrainingOptions, activations: String, rows: Int,
                            folder: String, skip: Bool? = nil) throws {
        var differences = options.differences(from: trainer.settings)
        if let skip, skip != trainer.settings.skipConnection {
            differences.append("--skip \(skip) (checkpoint: \(trainer.settings.skipConnection))")
        }
        if try fileExists(file(in: folder)) {
            guard let data = FileManager.default.contents(atPath: file(in: folder)),
                  let saved = try? JSONDecoder().decode(TrainingRun.self, from: data), saved.rows >= 0 else {
                throw ValidationError("--resume: \(file(in: folder)) is not the run.json Lantern writes ({\"activations\": path, \"rows\": count}): fix or remove it")
            }
            let now = TrainingRun(activations: activations, rows: rows)
            if now.activations != saved.activations { differences.append("--activations \(now.activations) (checkpoint: \(saved.activations))") }
            if now.rows != saved.rows { differences.append("\(now.rows) rows (checkpoint: \(saved.rows); --rows or the harvest changed)") }
        }
        if trainer.parameters.inputWidth != trainer.source.width {
            differences.append("\(trainer.source.width)-wide rows (checkpoint: \(trainer.parameters.inputWidth))")
        }
        guard differences.isEmpty else {
            throw ValidationError("--resume: this command differs from the checkpoint's run: \(differences.joined(separator: "; ")) — repeat the original command, or train into another --out")
        }
    }

    /// Many passes over few rows memorise them: say so, and how to get a held-out figure.
    static func warnAboutPasses(tokens: Int, rows: Int, held: Int) {
        let passes = Double(tokens) / Double(max(rows, 1))
        guard passes > 4 else { return }
        note(String(format: "warning: --tokens %d makes %.0f passes over %d rows: the dictionary may fit these rows rather than the hook; harvest more tokens, or keep rows back (--rows) and check them with `sae eval --activations`", tokens, passes, rows)
             + (held > 0 ? " (\(held) rows are held out)" : ""))
    }
}
