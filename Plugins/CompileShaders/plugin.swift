import Foundation
import PackagePlugin

/// Compiles every `Shaders/*.comp` of the package to SPIR-V with glslangValidator at build time.
/// The `.spv` outputs become resources of the target that uses this plugin (`Bundle.module`), and
/// EmbedFiles writes them into a Swift source of that target as well (EmbeddedShaders.spirv).
/// A shader that does not compile fails the build with glslang's file:line message.
/// `Shaders/*.glsl` are include files: every shader is rebuilt when one of them changes.
/// A line `// variant: NAME -DDEFINE=1 ...` in a shader also builds `<shader>_NAME.spv` with those
/// defines (for code that needs a device capability, such as subgroup arithmetic).
@main
struct CompileShaders: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let shaders = context.package.directoryURL.appendingPathComponent("Shaders")
        let files = try FileManager.default.contentsOfDirectory(atPath: shaders.path).sorted()
        let includes = files.filter { $0.hasSuffix(".glsl") }.map { shaders.appendingPathComponent($0) }
        let compiler = try glslang(context)
        let out = context.pluginWorkDirectoryURL.appendingPathComponent("spirv")
        var commands: [Command] = []
        var spirv: [URL] = []
        for name in files where name.hasSuffix(".comp") {
            let input = shaders.appendingPathComponent(name)
            let base = (name as NSString).deletingPathExtension
            var variants: [(suffix: String, defines: [String])] = [("", [])]
            let text = (try? String(contentsOf: input, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix("// variant:") {
                let words = line.dropFirst("// variant:".count).split(separator: " ").map(String.init)
                if let variant = words.first { variants.append(("_" + variant, Array(words.dropFirst()))) }
            }
            for (suffix, defines) in variants {
                let output = out.appendingPathComponent(base + suffix + ".spv")
                spirv.append(output)
                commands.append(.buildCommand(
                    displayName: "Compiling shader \(name)\(suffix.isEmpty ? "" : " (\(suffix.dropFirst()))")",
                    executable: compiler,
                    arguments: ["-V", "--target-env", "vulkan1.2", "--quiet", "-I\(shaders.path)"] + defines
                        + ["-o", output.path, input.path],
                    inputFiles: [input] + includes,
                    outputFiles: [output]
                ))
            }
        }
        // The same modules inside the binary too, so that a copied executable or library needs no bundle.
        let embedded = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedShaders.swift")
        commands.append(.buildCommand(
            displayName: "Embedding \(spirv.count) SPIR-V modules",
            executable: try context.tool(named: "EmbedFiles").url,
            arguments: ["EmbeddedShaders", "spirv", embedded.path] + spirv.map(\.path),
            inputFiles: spirv,
            outputFiles: [embedded]
        ))
        return commands
    }

    private func glslang(_ context: PluginContext) throws -> URL {
        if let tool = try? context.tool(named: "glslangValidator") { return tool.url }
        for dir in ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"] {
            let url = URL(fileURLWithPath: dir).appendingPathComponent("glslangValidator")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        Diagnostics.error("glslangValidator not found: install glslang-tools (Debian/Ubuntu) or glslang (Homebrew)")
        throw CompileShadersError.noCompiler
    }
}

enum CompileShadersError: Error { case noCompiler }
