import Foundation
import Models
import XCTest
@testable import Interpretability

/// The probes' logistic regression against scikit-learn's (goldens from
/// tools/make_probe_goldens.py), and SAEBench's task construction and top-k selection by hand.
final class SparseProbingTests: XCTestCase {
    struct Case: Decodable {
        let n: Int, d: Int, c: Double
        let x: [Float], y: [Bool], coef: [Double], intercept: Double
        let test_x: [Float], test_y: [Bool], test_accuracy: Double
    }

    func testLogisticRegressionEqualsScikitLearn() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/probing/logistic_regression.json")
        struct File: Decodable { let cases: [Case] }
        let cases = try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
        XCTAssertEqual(cases.count, 4)
        for (i, g) in cases.enumerated() {
            let fit = try LogisticRegression(x: g.x, labels: g.y, width: g.d, c: g.c)
            for j in 0..<g.d { XCTAssertEqual(fit.weights[j], g.coef[j], accuracy: 1e-6 * max(1, abs(g.coef[j])), "case \(i) w[\(j)]") }
            XCTAssertEqual(fit.bias, g.intercept, accuracy: 1e-6 * max(1, abs(g.intercept)), "case \(i) bias")
            XCTAssertEqual(fit.accuracy(x: g.test_x, labels: g.test_y), g.test_accuracy, "case \(i) test accuracy")
        }
    }

    func testTasksAreBalancedAndTopKReadsTheMeanDifference() throws {
        // Three classes of 2-wide rows: class c's rows are all (c, 10c + row index).
        var classes: [[Float]] = []
        for c in 0..<3 {
            var rows: [Float] = []
            for i in 0..<(4 + 2 * c) { rows += [Float(c), Float(10 * c + i)] }
            classes.append(rows)
        }
        let split = SparseProbing.Split(width: 2, classes: classes)
        var random = SeededGenerator(seed: 1)
        let (x, labels) = SparseProbing.task(split, positive: 1, random: &random)
        XCTAssertEqual(labels, [true, true, true, true, true, true, false, false, false, false, false, false])
        XCTAssertEqual(Array(x.prefix(12)), split.classes[1])
        let negatives = stride(from: 12, to: x.count, by: 2).map { Int(x[$0]) }
        XCTAssertEqual(negatives.filter { $0 == 0 }.count, 3, "⌈6/2⌉ from each other class")
        XCTAssertEqual(negatives.filter { $0 == 2 }.count, 3)
        // Positives (1, 10…15) against negatives: column 1 differs more than column 0.
        XCTAssertEqual(SparseProbing.topMeanDifference(x, labels: labels, width: 2, k: 2).first, 1)
        XCTAssertEqual(SparseProbing.columns([1, 2, 3, 4, 5, 6], width: 3, [2, 0]), [3, 1, 6, 4])
    }
}
