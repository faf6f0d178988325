/// The evaluation's figures under the names `sae eval --json` prints (and Python's `SAE.evaluate` returns).
extension OverallMetrics {
    public var json: [String: Any] {
        ["tokens": tokens, "l0": l0, "explained_variance": explainedVariance, "cosine": cosine,
         "relative_error": relativeError, "ce_clean": ceClean, "ce_sae": ceSAE, "ce_zero_ablated": ceZero,
         "ce_loss_score": ceScore, "ce_loss_increase": lossIncrease, "ce_loss_increase_percent": lossIncreasePercent,
         "dead_features": deadFeatures, "dense_features": denseFeatures,
         "dense_threshold": denseThreshold]
    }
}

extension TokenMetrics {
    /// `text`: how the token is shown.
    public func json(text: String) -> [String: Any] {
        var t: [String: Any] = ["position": position, "id": Int(token), "text": text, "l0": l0,
                                "explained_variance": explainedVariance, "cosine": cosine, "relative_error": relativeError]
        if let c = ceClean, let s = ceSAE, let z = ceZero { t["ce_clean"] = c; t["ce_sae"] = s; t["ce_zero_ablated"] = z }
        return t
    }
}
