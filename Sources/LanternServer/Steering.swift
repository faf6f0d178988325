import Foundation
import Hummingbird
import Lantern

/// Baseline and steered continuations, generated one token (one forward pass, one job) at a time
/// in turn, so both columns fill side by side and other requests slip in between.
struct SteeringRun: @unchecked Sendable {
    let features: [(feature: Int, strength: Float)]
    let mode: SteeringMode
    let maxNewTokens: Int
    let sampler: Sampler
    let sae: SAE

    init(_ request: APIRequest, setup: ServerSetup) throws {
        let (_, sae) = try request.sae(in: setup.saes)
        self.sae = sae
        guard let list = request.fields["features"] as? [Any], !list.isEmpty else {
            throw APIError.bad("'features' must be a non-empty list of {\"feature\": id, \"strength\": number}")
        }
        guard list.count <= setup.limits.steeringFeatures else {
            throw APIError.bad("'features': at most \(setup.limits.steeringFeatures) features at once")
        }
        let bound = setup.limits.steeringStrength
        features = try list.map { item -> (feature: Int, strength: Float) in
            let entry = APIRequest(fields: (item as? [String: Any]) ?? [:])
            let f = try entry.int("feature", default: -1, -1...(sae.dSAE - 1))
            guard f >= 0 else { throw APIError.bad("'features': each entry needs 'feature', an integer in 0...\(sae.dSAE - 1)") }
            return (feature: f, strength: try entry.float("strength", default: 0, -bound...bound))
        }
        guard let mode = SteeringMode(rawValue: try request.string("mode") ?? "add") else { throw APIError.bad("'mode' must be add or clamp") }
        if mode == .clamp, Dictionary(features.map { ($0.feature, [$0.strength]) }, uniquingKeysWith: +).values.contains(where: { Set($0).count > 1 }) {
            throw APIError.bad("'features': clamp mode sets each feature to one value: a feature is named with two strengths")
        }
        self.mode = mode
        maxNewTokens = try request.int("max_new_tokens", default: 24, 1...setup.limits.newTokens)
        let temperature = try request.float("temperature", default: 0, 0...100)
        let seed = try request.int("seed", default: 0, 0...Int(Int32.max))
        sampler = Sampler(temperature: temperature, seed: UInt64(seed))
    }

    /// Lantern's `Steering`: add mode sums strength·W_dec[f] over the features, clamp sets each
    /// feature's activation to its own strength (one strength per feature, which `steer --strength`
    /// cannot say; with one strength for all, the same arithmetic as `steer --mode clamp`).
    func steering() throws -> Steering {
        switch mode {
        case .clamp:
            return Steering(sae: sae, features: features.map { $0.feature }, strength: features[0].strength,
                            strengths: features.map { $0.strength }, mode: .clamp)
        case .add:
            if Set(features.map { $0.strength }).count == 1 {
                // The same arithmetic as `lantern steer --feature f,g --strength s`.
                return Steering(sae: sae, features: features.map { $0.feature }, strength: features[0].strength, mode: .add)
            }
            var vector = [Float](repeating: 0, count: sae.dIn)
            for (f, s) in features { for (i, v) in try sae.direction(f).enumerated() { vector[i] += s * v } }
            return Steering(sae: sae, direction: vector, strength: 1, mode: .add)
        }
    }
}

/// One continuation advanced a token per call, as `Transformer.generate` does in one go (the
/// same KV cache, sampler and end-of-sequence rule, so its tokens are the same).
final class StepGenerator: @unchecked Sendable {
    let model: Transformer
    let hooks: Hooks?
    private let cache: KVCache
    private var sampler: Sampler
    private var next: [Int32]
    private let prompt: [Int32]
    private(set) var tokens: [Int32] = []
    private(set) var finished = false
    private let maxNewTokens: Int

    init(model: Transformer, prompt: [Int32], maxNewTokens: Int, sampler: Sampler, hooks: Hooks?) throws {
        guard prompt.count + maxNewTokens <= model.config.contextLength else {
            throw APIError.bad("a prompt of \(prompt.count) tokens plus \(maxNewTokens) new tokens exceeds the model's context of \(model.config.contextLength)")
        }
        self.model = model
        self.hooks = hooks
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.sampler = sampler
        cache = try KVCache(model: model, capacity: prompt.count + maxNewTokens)
        next = prompt
    }

    /// The next token, or nil once the continuation has ended.
    func step() throws -> Int32? {
        guard !finished, tokens.count < maxNewTokens else { finished = true; return nil }
        guard let out = try model.forward(next, cache: cache, hooks: hooks, logits: .last) else { finished = true; return nil }
        let logits = try model.backend.read(out)
        try model.requireFinite(logits: logits, tokens: prompt + tokens)
        let token = sampler.pick(logits)
        tokens.append(token)
        if model.config.eosTokens.contains(token) || tokens.count >= maxNewTokens { finished = true }
        next = [token]
        return token
    }
}

extension LanternServer {
    /// Server-sent events: `token` events ({run: baseline|steered, index, id, text}) as each pass
    /// ends, then `done` with the whole result (the keys of `lantern steer --json`), or `error`.
    /// A client that goes away ends the stream at its next write, and so the generation.
    func steerStream(_ request: APIRequest) async throws -> Response {
        let setup = self.setup, queue = self.queue
        let run = try SteeringRun(request, setup: setup)
        let (baseline, steered, ids) = try await generators(request, run)
        let body = ResponseBody { writer in
            func send(_ event: String, _ object: Any) async throws {
                let json = String(decoding: try JSONResponse.encode(object), as: UTF8.self)
                try await writer.write(ByteBuffer(string: "event: \(event)\ndata: \(json)\n\n"))
            }
            do {
                try await send("start", ["prompt": ids.value.map(Int.init), "prompt_text": setup.model.decode(ids.value)])
                while !(baseline.finished && steered.finished) {
                    try Task.checkCancellation()
                    for (name, generator) in [("baseline", baseline), ("steered", steered)] where !generator.finished {
                        guard let token = try await queue.run({ try generator.step() }) else { continue }
                        try await send("token", ["run": name, "index": generator.tokens.count - 1, "id": Int(token),
                                                 "text": setup.model.display(token)])
                    }
                }
                try await send("done", Self.steerJSON(run, ids: ids.value, baseline: baseline.tokens, steered: steered.tokens, model: setup.model))
            } catch let error as APIError {
                try? await send("error", ["error": error.message])
            } catch let error as LanternError {
                try? await send("error", ["error": String(describing: error)])
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// The baseline and steered generators of one request, made on the model's queue, and the prompt's ids.
    func generators(_ request: APIRequest, _ run: SteeringRun) async throws -> (StepGenerator, StepGenerator, UncheckedBox<[Int32]>) {
        let setup = self.setup
        return try await queue.run {
            let ids = try request.promptIDs(setup, reserve: run.maxNewTokens)
            let hooks = try run.steering().hooks(for: setup.model.transformer)
            return (try StepGenerator(model: setup.model.transformer, prompt: ids, maxNewTokens: run.maxNewTokens, sampler: run.sampler, hooks: nil),
                    try StepGenerator(model: setup.model.transformer, prompt: ids, maxNewTokens: run.maxNewTokens, sampler: run.sampler, hooks: hooks),
                    UncheckedBox(ids))
        }
    }

    /// The same, as one JSON object when everything is generated.
    func steer(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let run = try SteeringRun(request, setup: setup)
        let (baseline, steered, ids) = try await generators(request, run)
        for generator in [baseline, steered] {
            while !generator.finished { _ = try await queue.run { try generator.step() } }
        }
        return try JSONResponse.encode(Self.steerJSON(run, ids: ids.value, baseline: baseline.tokens, steered: steered.tokens, model: setup.model))
    }

    static func steerJSON(_ run: SteeringRun, ids: [Int32], baseline: [Int32], steered: [Int32], model: LanternModel) -> [String: Any] {
        ["prompt": ids.map(Int.init), "baseline": baseline.map(Int.init), "steered": steered.map(Int.init),
         "baseline_text": model.decode(baseline), "steered_text": model.decode(steered), "mode": run.mode.rawValue,
         "features": run.features.map { $0.feature }, "strengths": run.features.map { Double($0.strength) },
         "strength": Double(run.features[0].strength)]
    }
}
