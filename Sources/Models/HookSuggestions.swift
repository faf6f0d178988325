/// "Did you mean …" for mistyped hook names: the nearest hook point of the model by edit distance.
extension HookNames {
    /// The hook of a model with `config` closest to `name` (Levenshtein distance over characters),
    /// when it is close enough to be a typo: at most a third of the name's length away.
    public static func closest(to name: String, in config: ModelConfig) -> String? {
        let typed = Array(name.utf8)
        var best: (name: String, distance: Int)?
        for candidate in all(config) {
            let d = editDistance(typed, Array(candidate.utf8))
            if d < best?.distance ?? Int.max { best = (candidate, d) }
        }
        guard let best, best.distance > 0, best.distance <= max(2, typed.count / 3) else { return nil }
        return best.name
    }

    /// One line for a hook name the model does not have: which flag gave it, the nearest real
    /// hook, and where to see them all.
    public static func unknown(_ name: String, flag: String, in config: ModelConfig) -> String {
        let hint = closest(to: name, in: config).map { "did you mean \($0)? " } ?? ""
        return "\(flag) '\(name)' is not a hook of this model (\(config.layerCount) layers): \(hint)see `lantern trace --list-hooks`"
    }

    /// Levenshtein distance (insertions, deletions, substitutions), two rows at a time.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count), current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...max(b.count, 1) where j <= b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
