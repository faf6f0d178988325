import XCTest
@testable import Interpretability
@testable import Presentation

/// The pages' rough edges, fixed: whitespace tokens visible in the lens, the features page
/// shaded by activation (L0 is constant for a TopK SAE) with feature ids linking to dashboards,
/// dashboards' token boxes without gaps inside words, and a histogram with a y-axis.
final class ReportPageTests: XCTestCase {
    func testLensShowsWhitespaceTokens() {
        XCTAssertEqual(HTMLReport.visibleWhitespace(" "), "␣")
        XCTAssertEqual(HTMLReport.visibleWhitespace("  "), "␣␣")
        XCTAssertEqual(HTMLReport.visibleWhitespace("\n"), "⏎")
        XCTAssertEqual(HTMLReport.visibleWhitespace("\\n\\n"), "⏎⏎")
        XCTAssertEqual(HTMLReport.visibleWhitespace(""), "∅")
        XCTAssertEqual(HTMLReport.visibleWhitespace(" the"), " the")
    }

    func testFeaturesPageShadesByActivationAndLinksFeatures() {
        // Same L0 at both tokens (as for TopK): the shading must still tell them apart.
        let perToken = [
            TokenFeatures(position: 0, token: 5, top: [FeatureActivation(feature: 3, activation: 2)], l0: 4, relativeError: 0.1),
            TokenFeatures(position: 1, token: 6, top: [FeatureActivation(feature: 7, activation: 8)], l0: 4, relativeError: 0.1),
        ]
        let html = HTMLReport.features(tokens: ["a", "b"], perToken: perToken, feature: nil, activations: nil,
                                       link: { "feature-\($0).html" })
        XCTAssertTrue(html.contains("background:\(HTMLReport.color(0.25, hue: 24))\""), html)
        XCTAssertTrue(html.contains("background:\(HTMLReport.color(1, hue: 24))\""), html)
        XCTAssertTrue(html.contains("<a href=\"feature-7.html\">7 (8.00)</a>"), html)
        XCTAssertTrue(html.contains("<div class=\"card run\">"), html)
    }

    func testDashboardHistogramHasAYAxis() {
        let h = FeatureHistogram(lower: 0, upper: 2, counts: [4, 10, 1], values: 15, sampled: false)
        let html = HTMLReport.histogramSection(h)
        XCTAssertTrue(html.contains("<div class=\"yaxis\" title=\"tokens per bin\"><span>10</span><span>5</span><span>0</span></div>"), html)
        XCTAssertTrue(HTMLReport.page(title: "t", sections: []).contains(".run .tok{margin:1px 0;padding:2px 0"))
    }
}
