import Analyses
import Foundation
import Hummingbird
import Lantern

/// Generation and steering a token (one forward pass, one job on the queue) at a time, so that
/// both steering columns fill side by side and other requests slip in between. The loop is the
/// analyses' own (`SteeringSession`, `Continuation`): the tokens are the CLI's.
extension LanternServer {
    /// Server-sent events: `start`, `token` events ({run: baseline|steered, index, id, text}) as
    /// each pass ends, then `done` with the whole result (`lantern steer --json`'s object), or
    /// `error`. A client that goes away ends the stream at its next write, and so the generation.
    func steerStream(_ body: APIRequest) async throws -> Response {
        let context = self.context, queue = self.queue
        let session = try await steering(body)
        let events = ResponseBody { writer in
            func send(_ event: String, _ data: Data) async throws {
                try await writer.write(ByteBuffer(string: "event: \(event)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"))
            }
            do {
                try await send("start", try JSONResponse.encode(["prompt": session.prompt.map(Int.init),
                                                                 "prompt_text": context.model.decode(session.prompt)]))
                while true {
                    try Task.checkCancellation()
                    guard let event = try await queue.run({ try session.step().map(UncheckedBox.init) })?.value else { break }
                    try await send("token", try JSONResponse.encode(["run": event.run, "index": event.index, "id": Int(event.token),
                                                                     "text": context.model.display(event.token)]))
                }
                try await send("done", try await queue.run { try AnalysisJSON.encode(try session.result(context)) })
            } catch let error as AnalysisError {
                try? await send("error", try JSONResponse.encode(["error": error.message]))
            } catch let error as LanternError {
                try? await send("error", try JSONResponse.encode(["error": String(describing: error)]))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: events)
    }

    /// The same, as one JSON object when everything is generated.
    func steer(_ body: APIRequest) async throws -> Data {
        let context = self.context
        let session = try await steering(body)
        while try await queue.run({ try session.step() != nil }) {}
        return try await queue.run { try AnalysisJSON.encode(try session.result(context)) }
    }

    /// The request's two continuations, made on the model's queue.
    func steering(_ body: APIRequest) async throws -> SteeringSession {
        let request = try SteerRequest(json: RequestFields(body.fields))
        let context = self.context
        return try await queue.run {
            try request.validate(against: context)
            return try request.start(on: context)
        }
    }

    /// `lantern generate --json`, a token per job.
    func generate(_ body: APIRequest) async throws -> Data {
        let request = try GenerateRequest(json: RequestFields(body.fields))
        let context = self.context
        let continuation = try await queue.run {
            try request.validate(against: context)
            return try request.start(on: context)
        }
        while try await queue.run({ try continuation.step() != nil }) {}
        return try AnalysisJSON.encode(GenerateResult(continuation, model: context.model))
    }
}
