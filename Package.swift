// swift-tools-version: 6.0
import PackageDescription

// The CPU kernels (Sources/CPUKernels) are built once per x86-64 level, each module compiled for
// its instruction set, and `CPUBackend` runs the widest the CPU has: one binary is fast on every
// x86-64 it lands on. Sources/wideKernelsAVX2 and Sources/wideKernelsAVX512 are links to the one
// source folder. Swift takes the instruction set from the Clang importer's `-march` (its own
// `-target-cpu` knows no x86-64 levels). Per-target flags are unsafe flags, which SwiftPM accepts
// in a root package (and from a dependency pinned to a branch or revision), not a versioned one.
//
// The wide modules' names start in lower case on purpose: SwiftPM links objects in name order, and
// of the helpers several modules emit (standard-library specialisations, value-witness copies) the
// linker keeps the first copy. Sorting last, the wide builds' copies are never the ones baseline
// code calls. tools/check_isa_leaks.py checks the linked binaries for exactly that.
#if arch(x86_64)
let kernelSets: [Target.Dependency] = ["CPUKernels", "wideKernelsAVX2", "wideKernelsAVX512"]
let wideKernels: [Target] = [
    kernelTarget("wideKernelsAVX2", level: "x86-64-v3", define: "LANTERN_AVX2"),
    kernelTarget("wideKernelsAVX512", level: "x86-64-v4", define: "LANTERN_AVX512"),
]
#else
let kernelSets: [Target.Dependency] = ["CPUKernels"]
let wideKernels: [Target] = []
#endif

func kernelTarget(_ name: String, level: String, define: String) -> Target {
    .target(name: name, dependencies: ["LanternCore", "CIntrinsics"],
            swiftSettings: [.define(define), .unsafeFlags(["-Xcc", "-march=\(level)"])])
}

let package = Package(
    name: "Lantern",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Lantern", targets: ["Lantern"]),
        .executable(name: "lantern", targets: ["LanternCLI"]),
        .library(name: "lanternc", type: .dynamic, targets: ["LanternC"]),  // the C ABI python/ loads
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Hummingbird's own dependencies, named for the server's channel handlers (the HTTP
        // parser's errors and the connection cap answer before any route runs).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
    ],
    targets: [
        .target(name: "LanternCore", dependencies: ["CIntrinsics"]),
        .target(name: "CIntrinsics"),
        // The baseline build of the kernels: what every CPU of the architecture runs.
        .target(name: "CPUKernels", dependencies: ["LanternCore", "CIntrinsics"], linkerSettings: [.linkedLibrary("m")]),
        // Which of them runs (the widest the CPU has, or LANTERN_ISA's).
        .target(name: "CPUKernelChoice", dependencies: ["LanternCore", "CIntrinsics"] + kernelSets),
        .target(name: "CPUBackend", dependencies: ["LanternCore", "CIntrinsics", "CPUKernelChoice"]),
        // File formats: safetensors, GGUF, the strict JSON readers, npy/npz (zip).
        .target(name: "Formats", dependencies: ["LanternCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(name: "Tokenizers", dependencies: ["LanternCore", "Formats"]),
        .target(name: "Models", dependencies: ["LanternCore", "Formats"]),
        .target(name: "Training", dependencies: ["LanternCore", "CPUKernelChoice", "Formats", "Models", "Interpretability"]),
        .target(
            name: "Interpretability",
            dependencies: ["LanternCore", "Formats", "Models"]
        ),
        // Pictures and pages: the HTML, SVG and plots the CLI writes and the server's page is made of.
        .target(name: "Presentation", dependencies: ["LanternCore", "Models", "Interpretability"]),
        // Vulkan backend: C shim over a dlopen'd loader, GLSL shaders compiled by the plugin.
        .target(name: "CVulkan", linkerSettings: [.linkedLibrary("dl")]),
        .executableTarget(name: "EmbedFiles", path: "Plugins/EmbedFiles"),
        .plugin(name: "CompileShaders", capability: .buildTool(), dependencies: ["EmbedFiles"]),
        // The server's page (HTML, CSS, JavaScript as files in Sources/LanternServer/Page) inside the binary.
        .plugin(name: "EmbedPage", capability: .buildTool(), dependencies: ["EmbedFiles"]),
        .target(name: "VulkanBackend", dependencies: ["LanternCore", "CVulkan"], plugins: ["CompileShaders"]),
        .target(name: "Lantern", dependencies: ["LanternCore", "CPUBackend", "Formats", "Models", "Tokenizers", "VulkanBackend",
                                              "Interpretability", "Presentation"]),
        // Every analysis once, as a typed request and an Encodable result: the front-ends below adapt it.
        .target(name: "Analyses", dependencies: ["Lantern", "Training"]),
        .target(name: "LanternC", dependencies: ["Lantern", "Analyses", "Training"]),
        // `lantern serve`: the JSON API and the page app on Hummingbird.
        .target(name: "LanternServer", dependencies: ["Lantern", "Analyses", "Training", .product(name: "Hummingbird", package: "hummingbird"),
                                                 .product(name: "HummingbirdCore", package: "hummingbird"),
                                                 .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                                                 .product(name: "NIOHTTPTypes", package: "swift-nio-extras")],
                exclude: ["Page"], plugins: ["EmbedPage"]),
        .executableTarget(
            name: "LanternCLI",
            dependencies: ["Lantern", "Analyses", "Training", "LanternServer", "CIntrinsics", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The gate for tests that need a cached real model or a tokenizer export (skip, or fail under
        // LANTERN_REQUIRE_MODELS): one copy for every test target.
        .target(name: "TestSupport", dependencies: ["Models"], path: "Tests/TestSupport"),
        .testTarget(name: "CPUBackendTests", dependencies: ["CPUBackend", "CPUKernelChoice", "CPUKernels", "LanternCore"]),
        .testTarget(
            name: "VulkanBackendTests",
            dependencies: ["Lantern", "Training", "VulkanBackend", "CPUBackend", "Models", "Formats", "LanternCore", "TestSupport"]
        ),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "LanternCore"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "LanternCore", "Lantern", "TestSupport"]),
        .testTarget(
            name: "ModelsTests",
            dependencies: ["Models", "CPUBackend", "Formats", "LanternCore", "TestSupport"]
        ),
        .testTarget(
            name: "InterpretabilityTests",
            dependencies: ["Interpretability", "Presentation", "Models", "CPUBackend", "VulkanBackend", "Formats", "LanternCore", "TestSupport"]
        ),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Interpretability", "CPUBackend", "Models", "Formats", "LanternCore"]
        ),
        // Runs the built `lantern` binary; depends on it so that it is built first.
        .testTarget(name: "CLITests", dependencies: ["LanternCLI", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["LanternServer", "Analyses", "Lantern", "Training", "LanternCLI"]),
    ] + wideKernels,
    swiftLanguageModes: [.v6]
)
