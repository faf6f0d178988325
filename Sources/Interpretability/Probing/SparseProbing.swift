import Foundation
import LanternCore
import Models

/// k-sparse probing as SAEBench defines it (Gao et al. 2024; Gurnee et al. 2023): for each class
/// of a labelled dataset, a balanced one-vs-rest task — every example of the class against as many
/// drawn from the other classes, an equal share from each — whose probe may read only the k
/// inputs (SAE latents, or model dimensions) whose means differ most between the two sides on
/// the training split, fitted by L2 logistic regression (C = 1) and scored by test accuracy.
/// Each example is one context, its inputs averaged over its positions (BOS left out).
public enum SparseProbing {
    /// Pooled inputs [examples, width] per class, for one split.
    public struct Split: Sendable {
        public var width: Int
        public var classes: [[Float]]

        public init(width: Int, classes: [[Float]]) {
            self.width = width
            self.classes = classes
        }

        func count(_ c: Int) -> Int { classes[c].count / width }
    }

    /// One class's balanced task: rows (the positives first) and labels. Negatives: ⌈n/(classes−1)⌉
    /// drawn without replacement from each other class, then n of those (SAEBench's draw, seeded).
    public static func task(_ split: Split, positive c: Int, random: inout SeededGenerator) -> (x: [Float], labels: [Bool]) {
        let w = split.width, n = split.count(c)
        let others = split.classes.indices.filter { $0 != c }
        let perClass = (n + others.count - 1) / max(others.count, 1)
        var negatives: [ArraySlice<Float>] = []
        for o in others {
            for i in Array(0..<split.count(o)).shuffled(using: &random).prefix(perClass) { negatives.append(split.classes[o][(i * w)..<((i + 1) * w)]) }
        }
        var x = split.classes[c]
        for row in negatives.shuffled(using: &random).prefix(n) { x.append(contentsOf: row) }
        let labels = (0..<(x.count / w)).map { $0 < n }
        return (x, labels)
    }

    /// The k inputs whose means differ most (|mean over positives − mean over negatives|), largest first.
    public static func topMeanDifference(_ x: [Float], labels: [Bool], width w: Int, k: Int) -> [Int] {
        var difference = [Double](repeating: 0, count: w)
        let positives = Double(labels.filter { $0 }.count), negatives = Double(labels.count) - positives
        for (i, label) in labels.enumerated() {
            let weight = label ? 1 / max(positives, 1) : -1 / max(negatives, 1)
            for j in 0..<w { difference[j] += weight * Double(x[i * w + j]) }
        }
        return Array(difference.indices.sorted { abs(difference[$0]) != abs(difference[$1]) ? abs(difference[$0]) > abs(difference[$1]) : $0 < $1 }.prefix(k))
    }

    /// The columns `indices` of rows x [n, w].
    public static func columns(_ x: [Float], width w: Int, _ indices: [Int]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(x.count / w * indices.count)
        for i in 0..<(x.count / w) { for j in indices { out.append(x[i * w + j]) } }
        return out
    }

    /// Test accuracy of each class's probe on k inputs (nil: all of them), in class order.
    public static func accuracies(train: Split, test: Split, k: Int?, seed: UInt64 = 42) throws -> [Double] {
        var random = SeededGenerator(seed: seed)
        return try train.classes.indices.map { c in
            let (trainX, trainY) = task(train, positive: c, random: &random)
            let (testX, testY) = task(test, positive: c, random: &random)
            let chosen = k.map { topMeanDifference(trainX, labels: trainY, width: train.width, k: $0) } ?? Array(0..<train.width)
            let probe = try LogisticRegression(x: columns(trainX, width: train.width, chosen), labels: trainY, width: chosen.count)
            return probe.accuracy(x: columns(testX, width: test.width, chosen), labels: testY)
        }
    }
}
