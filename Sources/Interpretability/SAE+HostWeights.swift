import LanternCore

extension SAE {
    /// The SAE's parameters read back to the host in SAELens's layout (W_enc [d_in, d_sae],
    /// W_dec [d_sae, d_in]), for callers that show or export them (the Python package's `W_enc`).
    public func hostWeights() throws -> SAEWeights {
        SAEWeights(wEnc: Self.transpose(try backend.read(encoder), rows: dSAE, cols: dIn),
                   wDec: try backend.read(decoderRows), bEnc: try backend.read(encoderBias),
                   bDec: try backend.read(decoderBias), threshold: try threshold.map { try backend.read($0) })
    }
}
