import LanternCore

extension SAETrainer {
    /// Refuses rows holding NaN or ±∞ (one bad row would turn every weight into NaN within a
    /// step), naming the first such row of the source. One vectorised scan per batch.
    static func requireFinite(_ rows: [Float], indices: [Int], width: Int, what: String) throws {
        guard !rows.withUnsafeBufferPointer(allFinite), let (index, value) = firstNonFinite(rows) else { return }
        throw LanternError.invalidArgument("\(what) row \(indices[index / max(width, 1)]) holds \(value): the activations are not finite (re-harvest them, or leave the row out)")
    }

    /// The current dictionary on `rows` of `source` that it did not train on: the loss terms,
    /// L0 and explained variance, with no update (an SAE's held-out figure).
    public func evaluate(_ source: any ActivationSource, rows: Range<Int>) throws -> SAEBatchResult {
        guard !rows.isEmpty, !settings.transcoder else {
            throw LanternError.invalidArgument("a held-out evaluation needs rows, and an SAE (transcoders: `transcoder eval`)")
        }
        let indices = Array(rows)
        let raw = try source.rows(indices)
        try Self.requireFinite(raw, indices: indices, width: parameters.inputWidth, what: "held-out activation")
        return try objective.evaluate(parameters, batch: parameters.normalized(raw), rows: indices.count,
                                      sparsityCoefficient: sparsityCoefficient)
    }
}
