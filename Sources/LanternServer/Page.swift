import Foundation
import Lantern

/// The page app: one HTML document (the look of Lantern's static pages, `HTMLReport.page`) with
/// its style and script inline, so the server needs no files and the browser no network. Its
/// parts are files in `Page/` (HTML, CSS, JavaScript), built into the binary by the EmbedPage plugin.
enum Page {
    static let html = HTMLReport.page(title: "Lantern", subtitle: "", sections: [
        file("body.html"), "<style>\(file("style.css"))</style>",
        "<script>" + scripts.map(file).joined(separator: "\n") + "</script>",
    ])

    /// The scripts, in order: the core (API client, run, colours) first.
    static let scripts = ["page.js", "state.js", "features.js", "attention.js", "steering.js", "graph.js", "graphview.js", "sweep.js"]

    /// One of the page's files, as the build embedded it.
    static func file(_ name: String) -> String {
        guard let base64 = EmbeddedPage.files[name], let data = Data(base64Encoded: base64) else {
            preconditionFailure("the build did not embed Page/\(name)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
