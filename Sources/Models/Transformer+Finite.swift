import LanternCore

extension Transformer {
    /// The error for activation `tensor` at hook `name` holding NaN or ±∞: the hook, the layer and
    /// the first bad position, in one line.
    func nonFinite(_ name: String, layer: Int?, _ tensor: Tensor, firstPosition: Int) throws -> LanternError {
        let values = try backend.read(tensor)
        let (index, value) = firstNonFinite(values) ?? (0, .nan)
        let position = firstPosition + index / max(tensor.width, 1)
        let place = layer.map { "\(name) (layer \($0))" } ?? name
        return .invalidArgument("non-finite activation: \(place) holds \(value) at position \(position) — the model's weights or config (or an intervention at this hook) produce NaN or ±∞")
    }

    /// Refuses logits holding NaN or ±∞ (read back from a backend whose forward pass does not
    /// check as it goes), naming the first hook of a rerun of `tokens` that went non-finite.
    public func requireFinite(logits: [Float], tokens: [Int32]) throws {
        guard firstNonFinite(logits) != nil else { return }
        throw try locateNonFinite(tokens) ?? .invalidArgument("non-finite logits (NaN or ±∞): the model's weights or config produce them")
    }

    /// Runs `tokens` capturing every hook and returns the error for the first one, in forward
    /// order, that holds a non-finite value (nil when none does). Costly: only for error messages.
    public func locateNonFinite(_ tokens: [Int32]) throws -> LanternError? {
        let hooks = Hooks(capture: .all)
        try forward(tokens, hooks: hooks, logits: .none)
        for (name, tensor) in hooks.captured where firstNonFinite(try backend.read(tensor)) != nil {
            let layer = name.hasPrefix("blocks.") ? Int(name.split(separator: ".")[1]) : nil
            return try nonFinite(name, layer: layer, tensor, firstPosition: 0)
        }
        return nil
    }
}
