import LanternCore
import XCTest

extension XCTestCase {
    /// `body` fails with one line of LanternError that holds every fragment.
    func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is LanternError, "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
            for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(error)' lacks '\(f)'", file: file, line: line) }
        }
    }
}
