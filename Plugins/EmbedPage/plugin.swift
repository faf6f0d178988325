import Foundation
import PackagePlugin

/// Embeds the page app's files (`Page/*.html`, `*.css`, `*.js` of the target) into a Swift source
/// of the target (EmbeddedPage.files, by file name), so that the page is edited as HTML, CSS and
/// JavaScript, and the server still needs no files beside its binary.
@main
struct EmbedPage: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        // The target's folder by the package layout (Target.directoryURL needs tools version 6.1).
        let folder = context.package.directoryURL.appendingPathComponent("Sources/\(target.name)/Page")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            .filter { [".html", ".css", ".js"].contains(where: $0.hasSuffix) }.map { folder.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedPage.swift")
        return [.buildCommand(displayName: "Embedding the page (\(files.count) files)",
                              executable: try context.tool(named: "EmbedFiles").url,
                              arguments: ["EmbeddedPage", "files", output.path, "--keep-extension"] + files.map(\.path),
                              inputFiles: files, outputFiles: [output])]
    }
}
