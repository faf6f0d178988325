/// Indices of the largest values, largest first; ties go to the lower index, as a stable sort
/// would order them. A small sorted list of the best k seen so far: k is tens to hundreds, the
/// rows thousands to a vocabulary.
public enum Ranking {
    /// An array (a vocabulary's logits, a row of activations) takes the vectorised path, which
    /// returns the same list.
    public static func largest(_ k: Int, of values: [Float]) -> [Int] {
        values.withUnsafeBufferPointer { LogitStatistics.largest(k, of: $0) }
    }

    public static func largest<C: RandomAccessCollection>(_ k: Int, of values: C) -> [Int]
    where C.Element == Float, C.Index == Int {
        guard k > 0 else { return [] }
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in values.indices {
            if best.count == k, values[i] <= values[best[k - 1]] { continue }
            var at = best.count
            while at > 0, values[best[at - 1]] < values[i] { at -= 1 }
            best.insert(i, at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
