import Foundation
import Hummingbird
import Lantern

/// A request's JSON body, read within the size limit; a request that names a file is refused. Its
/// fields are read by the analysis's request (`RequestFields`).
struct APIRequest: @unchecked Sendable {
    let fields: [String: Any]

    static func read(_ body: RequestBody, limit: Int) async throws -> APIRequest {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "the request body is larger than \(limit) bytes")
        }
        if buffer.readableBytes == 0 { return APIRequest(fields: [:]) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)),
              let fields = object as? [String: Any] else {
            throw APIError(.badRequest, "the request body must be one JSON object")
        }
        // Models, SAEs and lenses come from the command line only: a request naming a file is refused.
        for key in ["model", "path", "file", "directory", "sae_path", "tuned"] where fields[key] != nil {
            throw APIError(.forbidden, "'\(key)': files are never read from a request; the server serves the model, SAEs and lens given on its command line")
        }
        return APIRequest(fields: fields)
    }
}
