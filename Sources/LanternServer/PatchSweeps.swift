import Foundation
import Hummingbird
import Lantern

/// What one sweep request asks for: `lantern patch sweep`'s options.
struct SweepRequest: Sendable {
    /// activation: one forward pass per cell (the default); attribution: the estimate from one
    /// backward pass (`--approx`); both: the two grids side by side (`--approx --compare`).
    enum Method: String, Sendable { case activation, attribution, both }
    let hooks: [String]
    let method: Method

    init(_ request: APIRequest) throws {
        if let raw = request.fields["hooks"] {
            guard let list = raw as? [Any], let hooks = Optional(list.compactMap { $0 as? String }), hooks.count == list.count,
                  (1...16).contains(hooks.count), hooks.allSatisfy({ !$0.isEmpty && $0.count <= 200 }) else {
                throw APIError.bad("'hooks' must be a list of 1 to 16 hook patterns (globs such as \"blocks.*.hook_resid_pre\")")
            }
            self.hooks = hooks
        } else {
            hooks = ["blocks.*.hook_resid_pre"]
        }
        guard let method = Method(rawValue: try request.string("method") ?? "activation") else {
            throw APIError.bad("'method' must be activation, attribution or both")
        }
        self.method = method
    }
}

extension LanternServer {
    /// `lantern patch sweep --json`: the clean prompt with each hook × position (× head) taken from
    /// the corrupted prompt's run, one forward pass (one slice) per cell.
    func patchSweep(_ request: APIRequest) async throws -> Data {
        try await patchSweep(request, progress: { _, _ in })
    }

    func patchSweep(_ request: APIRequest, progress: @escaping @Sendable (Int, Int) -> Void) async throws -> Data {
        let setup = self.setup
        let asked = try SweepRequest(request)
        let prompts = try await sweepPrompts(request)
        let cellLimit = setup.limits.sweepCells
        return try await SlicedJob.run(queue: queue, jobs: jobs, progress: progress) { checkpoint in
            let model = setup.model
            let (clean, corrupted, target, baseline) = prompts.value
            let sweep = try PatchingSweep(model: model.transformer, clean: clean, corrupted: corrupted, target: target, baseline: baseline)
            let cells = try sweep.families(asked.hooks).reduce(0) { $0 + $1.rows.count } * clean.count
            guard cells <= cellLimit else {
                throw APIError(.contentTooLarge, "'hooks': \(cells) cells (rows × positions); this server sweeps at most \(cellLimit)")
            }
            var result: PatchingSweepResult
            if asked.method != .attribution {
                result = try sweep.run(asked.hooks, progress: checkpoint)
            } else {
                result = PatchingSweepResult(cleanTokens: clean, corruptedTokens: corrupted, target: sweep.target, baseline: sweep.baseline,
                                             cleanDifference: sweep.cleanDifference, corruptedDifference: sweep.corruptedDifference, grids: [])
            }
            if asked.method != .activation { result.grids += try sweep.approximate(asked.hooks) }
            return try JSONResponse.encode(result.json(model: model))
        }
    }

    /// The same as server-sent events with the cells done so far.
    func patchSweepStream(_ request: APIRequest) async throws -> Response {
        _ = try SweepRequest(request)
        _ = try await sweepPrompts(request)
        return slicedStream { progress in try await self.patchSweep(request, progress: progress) }
    }

    /// Both prompts' ids, the target and the baseline, read on the model's queue (the tokenizer).
    func sweepPrompts(_ request: APIRequest) async throws -> UncheckedBox<([Int32], [Int32], Int32, Int32?)> {
        let setup = self.setup
        return try await queue.run {
            let clean = try request.promptIDs(setup)
            let corrupted = try request.promptIDs(setup, text: "corrupted_prompt", ids: "corrupted_token_ids")
            guard clean.count == corrupted.count else {
                throw APIError.bad("the clean prompt is \(clean.count) tokens and the corrupted prompt \(corrupted.count): a sweep needs the same number")
            }
            guard let target = try request.token("target", model: setup.model) else {
                throw APIError.bad("give 'target', the token whose logit to watch (an id or the text of one token)")
            }
            return UncheckedBox((clean, corrupted, target, try request.token("baseline", model: setup.model)))
        }
    }
}
