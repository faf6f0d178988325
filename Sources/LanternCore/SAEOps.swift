/// A sparse autoencoder's activation function, applied to the encoder's pre-activations.
public enum SAEActivation: Sendable, Equatable, CustomStringConvertible {
    /// relu(pre) (SAELens "standard").
    case relu
    /// (pre > threshold) · relu(pre) (Gemma Scope, SAELens "jumprelu").
    case jumpReLU
    /// relu of the k largest pre-activations of each row, zero elsewhere (SAELens "topk").
    case topK(Int)

    public var description: String {
        switch self {
        case .relu: "relu"
        case .jumpReLU: "jumprelu"
        case let .topK(k): "topk(k=\(k))"
        }
    }

    /// How many of `width` latents a row usually fires: TopK's k, else a bound above the usual
    /// L0s. It sizes a device's compacted read-back (`Backend.positiveEntries`).
    public func typicalActive(of width: Int) -> Int {
        if case let .topK(k) = self { return min(k, width) }
        return min(width, 256)
    }

    /// Applies the activation to one row of pre-activations in place.
    public func apply(_ row: UnsafeMutableBufferPointer<Float>, threshold: UnsafeBufferPointer<Float>?) {
        switch self {
        case .relu:
            for i in row.indices { row[i] = max(row[i], 0) }
        case .jumpReLU:
            guard let threshold else { fatalError("jumprelu needs a threshold (checked by saeEncode)") }
            for i in row.indices { row[i] = row[i] > threshold[i] && row[i] > 0 ? row[i] : 0 }
        case let .topK(k):
            // The kept values set aside, the row cleared, the values put back: a set of the kept
            // indices, looked up for every entry, cost more than the ranking itself.
            let keep = LogitStatistics.largest(k, of: UnsafeBufferPointer(row))
            let kept = keep.map { max(row[$0], 0) }
            row.update(repeating: 0)
            for (i, v) in zip(keep, kept) { row[i] = v }
        }
    }

}

extension Backend {
    /// Composed from `matmul`, `add` and a host round trip for the activation, so that every
    /// backend has an SAE encoder until it brings a fused one.
    public func saeEncode(_ x: Tensor, encoder: Tensor, bias: Tensor, threshold: Tensor?,
                          activation: SAEActivation) throws -> Tensor {
        try checkSAEEncode(x, encoder: encoder, bias: bias, threshold: threshold, activation: activation)
        let pre = try add(try matmul(x, encoder), bias)
        var values = try read(pre)
        let thresholdValues = try threshold.map(read)
        let width = encoder.shape[0]
        values.withUnsafeMutableBufferPointer { all in
            for r in 0..<(all.count / max(width, 1)) {
                let row = UnsafeMutableBufferPointer(rebasing: all[(r * width)..<((r + 1) * width)])
                thresholdValues.map { t in t.withUnsafeBufferPointer { activation.apply(row, threshold: $0) } }
                    ?? activation.apply(row, threshold: nil)
            }
        }
        return try tensor(values, shape: pre.shape)
    }

    /// acts · decoderᵀ + bias, from `matmul` and `add` (dense: `rows` is not read).
    public func saeDecode(_ acts: Tensor, decoder: Tensor, rows: Tensor?, bias: Tensor) throws -> Tensor {
        try checkSAEDecode(acts, decoder: decoder, rows: rows, bias: bias)
        return try add(try matmul(acts, decoder), bias)
    }

    /// `saeDecode` without the decoder's rows: always the dense product.
    public func saeDecode(_ acts: Tensor, decoder: Tensor, bias: Tensor) throws -> Tensor {
        try saeDecode(acts, decoder: decoder, rows: nil, bias: bias)
    }

    /// Shape checks every implementation of `saeEncode` makes first.
    public func checkSAEEncode(_ x: Tensor, encoder: Tensor, bias: Tensor, threshold: Tensor?,
                               activation: SAEActivation) throws {
        guard encoder.rank == 2, encoder.shape[1] == x.width, bias.count == encoder.shape[0] else {
            throw LanternError.shapeMismatch(op: "saeEncode", detail: "x \(x.shape), encoder \(encoder.shape) ([d_sae, d_in]), bias \(bias.shape)")
        }
        if activation == .jumpReLU {
            guard let threshold, threshold.count == encoder.shape[0] else {
                throw LanternError.shapeMismatch(op: "saeEncode", detail: "jumprelu needs a threshold of \(encoder.shape[0]) values, got \(threshold?.shape.description ?? "none")")
            }
        }
        if case let .topK(k) = activation, k < 1 {
            throw LanternError.invalidArgument("saeEncode: topk needs k ≥ 1, got \(k)")
        }
    }

    public func checkSAEDecode(_ acts: Tensor, decoder: Tensor, rows: Tensor? = nil, bias: Tensor) throws {
        guard decoder.rank == 2, decoder.shape[1] == acts.width, bias.count == decoder.shape[0] else {
            throw LanternError.shapeMismatch(op: "saeDecode", detail: "acts \(acts.shape), decoder \(decoder.shape) ([d_in, d_sae]), bias \(bias.shape)")
        }
        if let rows, rows.shape != [decoder.shape[1], decoder.shape[0]] {
            throw LanternError.shapeMismatch(op: "saeDecode", detail: "rows \(rows.shape): W_dec should be [d_sae, d_in] = \([decoder.shape[1], decoder.shape[0]]), the decoder \(decoder.shape) transposed")
        }
    }
}
