import Foundation
import XCTest

/// `lantern superposition`: the JSON fields, the page, the table, and one line per bad flag.
extension CLITests {
    func testSuperpositionJSONAndPage() throws {
        let page = NSTemporaryDirectory() + "superposition-\(UUID().uuidString).html"
        defer { try? FileManager.default.removeItem(atPath: page) }
        let r = try run(["superposition", "--sparsity", "0,0.9", "--steps", "300", "--batch", "256", "--json", "--html", page])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["features"] as? Int, 5)
        XCTAssertEqual(json["hidden"] as? Int, 2)
        XCTAssertEqual(json["steps"] as? Int, 300)
        let models = json["models"] as! [[String: Any]]
        XCTAssertEqual(models.map { $0["sparsity"] as! Double }, [0, 0.9])
        for model in models {
            for key in ["loss", "frobenius_per_dimension", "represented", "represented_per_dimension", "W", "b", "loss_curve", "per_feature"] {
                XCTAssertNotNil(model[key], key)
            }
            XCTAssertLessThanOrEqual(model["represented_per_dimension"] as! Double, 2.5, "at most n / m")
            XCTAssertEqual((model["W"] as! [[Double]]).map(\.count), [5, 5])
            let perFeature = model["per_feature"] as! [[String: Any]]
            XCTAssertEqual(perFeature.map { $0["index"] as! Int }, [0, 1, 2, 3, 4])
            for key in ["importance", "norm", "superposition", "bias", "angle_degrees"] { XCTAssertNotNil(perFeature[0][key], key) }
            XCTAssertEqual(perFeature[1]["importance"] as! Double, 0.9, accuracy: 1e-6)
            // A dropped feature has no superposition to report; a kept one has a number.
            for feature in perFeature {
                let represented = feature["represented"] as! Bool
                XCTAssertEqual(represented, (feature["norm"] as! Double) >= 0.5)
                XCTAssertEqual(feature["superposition"] is NSNull, !represented, "\(feature)")
            }
        }
        // Dense, the model drops features (two kept when trained to the end): there are nulls to check.
        XCTAssertLessThan(models[0]["represented"] as! Int, 5)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for piece in ["<svg", "Where the features go", "superposition per feature", "‖W‖_F² / m against sparsity", "S = 0.900"] {
            XCTAssertTrue(html.contains(piece), piece)
        }
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "the page fetches nothing")

        let table = try run(["superposition", "--sparsity", "0.5", "--features", "4", "--hidden", "3", "--steps", "100"])
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("S = 0.500"), table.out)
        XCTAssertTrue(table.out.contains("superposition"), table.out)
        XCTAssertFalse(table.out.contains("angle"), "angles only for m = 2: \(table.out)")
    }

    func testSuperpositionBadFlagsFailWithOneLine() throws {
        let cases: [([String], String)] = [
            (["--features", "0"], "--features must be between 1 and 100000, not 0"),
            (["--hidden", "0"], "--hidden must be between 1 and 100000, not 0"),
            (["--sparsity", "1"], "--sparsity values must be in [0, 1)"),
            (["--sparsity", "0.5,x"], "--sparsity must be a number or comma-separated numbers"),
            (["--importance-decay", "0"], "--importance-decay must be a finite number > 0 and ≤ 1"),
            (["--steps", "0"], "--steps must be between 1 and"),
            (["--batch", "0"], "--batch must be between 1 and"),
            (["--lr", "0"], "--lr must be a finite number > 0"),
            (["--restarts", "0"], "--restarts must be between 1 and 10000"),
        ]
        for (arguments, expected) in cases {
            let r = try run(["superposition"] + arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }
}
