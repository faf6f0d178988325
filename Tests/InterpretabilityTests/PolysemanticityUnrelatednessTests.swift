import Foundation
import Interpretability
import XCTest

/// The unrelatedness of a neuron's group features against values worked out by hand (the
/// intermediate sums are in the comments; numpy agrees to the last place).
final class PolysemanticityUnrelatednessTests: XCTestCase {
    // Three groups' features: shares 0.4, 0.3, 0.2 (a remainder of 0.1 shares nothing).
    let shares = [0.4, 0.3, 0.2]
    // cos(a, b) = 1/√2, cos(a, c) = 0, cos(b, c) = −3/(√2·5) = −0.424264.
    let directions: [[Float]] = [[1, 0, 0], [1, 1, 0], [0, -3, 4]]
    // J(A, B) = |{3, 4}| / |{1…6}| = 1/3, J(A, C) = |{1}| / |{1, 2, 3, 4, 7}| = 1/5, J(B, C) = 0.
    let promoted: [[Int32]] = [[1, 2, 3, 4], [3, 4, 5, 6], [1, 7]]

    func testPairwiseCosinesAndOverlapsByHand() throws {
        XCTAssertEqual(Unrelatedness.cosine(directions[0], directions[1]), 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Unrelatedness.cosine(directions[1], directions[2]), -3 / (2.0.squareRoot() * 5), accuracy: 1e-12)
        XCTAssertEqual(Unrelatedness.cosine(directions[0], [0, 0, 0]), 0, "a zero direction relates to nothing")
        XCTAssertEqual(Unrelatedness.jaccard(promoted[0], promoted[1]), 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(Unrelatedness.jaccard(promoted[0], promoted[2]), 0.2, accuracy: 1e-15)
        XCTAssertEqual(Unrelatedness.jaccard([1, 1, 2], [2, 2]), 0.5, "lists are read as sets")
        XCTAssertEqual(Unrelatedness.jaccard([], []), 0)

        let u = try Unrelatedness(features: [10, 20, 30], shares: shares, directions: directions, promoted: promoted)
        XCTAssertEqual(u.features, [10, 20, 30])
        // (0.707107 + 0 + 0.424264) / 3 and (1/3 + 1/5 + 0) / 3.
        XCTAssertEqual(u.meanAbsCosine!, 0.37712361663282534, accuracy: 1e-12)
        XCTAssertEqual(u.meanPromotedOverlap!, 0.17777777777777778, accuracy: 1e-12)
        // Z_ab = max(0.707107, 1/3), Z_ac = max(0, 0.2), Z_bc = max(0.424264, 0);
        // Zp = (0.652132, 0.667696, 0.407279); exp(−(0.4 ln 0.652132 + 0.3 ln 0.667696 + 0.2 ln 0.407279)).
        XCTAssertEqual(u.unrelatedFeatures, 1.6029271899593063, accuracy: 1e-9)
        // Below the effective number exp(−Σ p ln p) = 2.856496 that counts every group as unrelated.
        let effective = exp(-shares.reduce(0) { $0 + $1 * log($1) })
        XCTAssertEqual(effective, 2.856496050468383, accuracy: 1e-12)

        // Without promoted tokens (an SAE off the residual stream) only the cosines relate them.
        let cosOnly = try Unrelatedness(features: [10, 20, 30], shares: shares, directions: directions, promoted: nil)
        XCTAssertNil(cosOnly.meanPromotedOverlap)
        XCTAssertEqual(cosOnly.unrelatedFeatures, 1.717531577728869, accuracy: 1e-9)
    }

    func testTheEndsAreTheEffectiveNumberAndOneGroup() throws {
        // Orthogonal directions and disjoint promotions: exactly the effective number.
        let apart = try Unrelatedness(features: [1, 2, 3], shares: shares, directions: [[1, 0, 0], [0, 2, 0], [0, 0, -1]],
                                      promoted: [[1], [2], [3]])
        XCTAssertEqual(apart.meanAbsCosine, 0)
        XCTAssertEqual(apart.meanPromotedOverlap, 0)
        XCTAssertEqual(apart.unrelatedFeatures, 2.856496050468383, accuracy: 1e-12)
        // One direction (up to sign): one group holding 0.9 of the contexts, 0.9^−0.9.
        let same = try Unrelatedness(features: [1, 2, 3], shares: shares, directions: [[1, 2, 0], [-2, -4, 0], [0.5, 1, 0]],
                                     promoted: [[5], [6], [7]])
        XCTAssertEqual(same.meanAbsCosine!, 1, accuracy: 1e-12)
        XCTAssertEqual(same.unrelatedFeatures, 1.0994658424513493, accuracy: 1e-9)
        // The same promoted tokens relate orthogonal directions just as fully.
        let samePromoted = try Unrelatedness(features: [1, 2, 3], shares: shares, directions: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                             promoted: [[4, 5], [5, 4], [4, 5]])
        XCTAssertEqual(samePromoted.meanPromotedOverlap, 1)
        XCTAssertEqual(samePromoted.unrelatedFeatures, 1.0994658424513493, accuracy: 1e-9)
        // One group: p^−p, and no pair to average; none: 1.
        let one = try Unrelatedness(features: [4], shares: [0.5], directions: [[1, 1]], promoted: [[1]])
        XCTAssertNil(one.meanAbsCosine)
        XCTAssertNil(one.meanPromotedOverlap)
        XCTAssertEqual(one.unrelatedFeatures, pow(0.5, -0.5), accuracy: 1e-12)
        XCTAssertEqual(try Unrelatedness(features: [], shares: [], directions: [], promoted: []).unrelatedFeatures, 1)
        XCTAssertThrowsError(try Unrelatedness(features: [1, 2], shares: [0.5], directions: [[1], [1]], promoted: nil))
    }
}
