import Foundation
import Lantern

/// One forward pass with the chosen hooks' activations and the logits saved to a safetensors file
/// (`safetensors.numpy.load_file` reads it); with a gradient target and baseline, each saved hook's
/// gradient of the logit difference beside it as `grad:{hook}` (attention patterns have none).
public struct TraceRequest: AnalysisRequest {
    public static let name = "trace"
    public static let summary = "A forward pass with hook activations (TransformerLens names, globs) and logits saved to a safetensors file; optionally each hook's gradient of logit(target) − logit(baseline) as grad:{hook}."
    public static let hooks = Field("hooks", .strings, default: "none ('*' for all)", "Hook names or globs to save.")
    public static let out = Field("out", .string(choices: []), "The safetensors file to write.")
    public static let gradTarget = Field("grad_target", .token, "Also save gradients of logit[target] − logit[baseline]: the target (an id or the text of one token).")
    public static let gradBaseline = Field("grad_baseline", .token, "The baseline token of the gradient's logit difference.")
    public static let gradPosition = Field("grad_position", .integer(0...(1 << 20)), default: "the last", "The position of the gradient's logit difference.")
    public static let fields = [Field.prompt, .tokenIDs, hooks, out, gradTarget, gradBaseline, gradPosition]

    public var prompt: PromptInput?
    public var hooks: [String] = []
    public var out: String?
    public var gradTarget: TokenInput?
    public var gradBaseline: TokenInput?
    public var gradPosition: Int?
    /// Written into the file's metadata (the model as the caller named it).
    public var modelName = ModelStore.defaultModel

    public init(prompt: PromptInput?, hooks: [String], out: String?) {
        self.prompt = prompt
        self.hooks = hooks
        self.out = out
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        hooks = try json.strings(Self.hooks) ?? hooks
        out = try json.string(Self.out)
        gradTarget = try json.token(Self.gradTarget)
        gradBaseline = try json.token(Self.gradBaseline)
        gradPosition = try json.int(Self.gradPosition)
    }

    var wantsGradients: Bool { gradTarget != nil || gradBaseline != nil || gradPosition != nil }

    public func validate(against context: AnalysisContext) throws {
        guard out != nil else { throw AnalysisError.invalid("give \(context.name(Self.out)), the safetensors file to write") }
        if let gradPosition { try context.check(gradPosition, Self.gradPosition) }
        if wantsGradients && (gradTarget == nil || gradBaseline == nil) {
            throw AnalysisError.invalid("gradients need both \(context.name(Self.gradTarget)) and \(context.name(Self.gradBaseline))")
        }
        let names = HookNames.all(context.config)
        for pattern in hooks where !names.contains(where: { HookFilter([pattern]).matches($0) }) {
            let hint = HookNames.closest(to: pattern, in: context.config).map { "did you mean \($0)? " } ?? ""
            throw AnalysisError.invalid("\(context.name(Self.hooks)) '\(pattern)' matches no hook of this model (\(hint)see --list-hooks)")
        }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> TraceResult {
        let tokens = try context.tokens(prompt)
        let transformer = context.transformer, backend = transformer.backend
        var metadata = ["tokens": tokens.map(String.init).joined(separator: ","), "model": modelName, "backend": backend.name]
        var entries: [SafetensorsWriter.Entry] = []
        var metric: Double?
        if wantsGradients {
            let target = try context.token(gradTarget, Self.gradTarget)!, baseline = try context.token(gradBaseline, Self.gradBaseline)!
            let result = try transformer.gradients(tokens: tokens, of: .logitDifference(target: target, baseline: baseline, position: gradPosition),
                                                   hooks: HookFilter(hooks))
            // Forward order, the attention patterns among them (activations only: they have no gradient).
            let order = HookNames.forwardIndex(transformer.config)
            var named: [(name: String, entries: [SafetensorsWriter.Entry])] = []
            for point in result.points {
                named.append((point.name, [.init(name: point.name, shape: point.activation.shape, values: try backend.read(point.activation)),
                                           .init(name: "grad:" + point.name, shape: point.gradient.shape, values: try backend.read(point.gradient))]))
            }
            for (name, pattern) in result.patterns {
                named.append((name, [.init(name: name, shape: pattern.shape, values: try backend.read(pattern))]))
            }
            entries = named.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }.flatMap(\.entries)
            entries.append(.init(name: "logits", shape: result.logits.shape, values: try backend.read(result.logits)))
            metric = Double(result.metric)
            metadata["metric"] = "\(result.metric)"
        } else {
            let capture = Hooks(capture: HookFilter(hooks))
            guard let logits = try transformer.forward(tokens, hooks: capture, logits: .all) else {
                throw LanternError.backend("the forward pass returned no logits")
            }
            for (name, tensor) in capture.captured {
                entries.append(.init(name: name, shape: tensor.shape, values: try backend.read(tensor)))
            }
            entries.append(.init(name: "logits", shape: logits.shape, values: try backend.read(logits)))
        }
        try SafetensorsWriter.write(entries, metadata: metadata, to: out!)
        return TraceResult(out: out!, tokens: tokens.map(Int.init), tensors: entries.map(\.name), metric: metric)
    }
}

public struct TraceResult: Codable, Sendable {
    /// The file written.
    public var out: String
    public var tokens: [Int]
    /// The tensors in it, in file order.
    public var tensors: [String]
    /// The logit difference whose gradients were saved.
    public var metric: Double?
}
