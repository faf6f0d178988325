import Foundation
import Hummingbird
import Lantern

/// A request's JSON body, read within the size limit, with typed fields that refuse bad values in
/// one line naming the field.
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
            throw APIError.bad("the request body must be one JSON object")
        }
        // Models, SAEs and lenses come from the command line only: a request naming a file is refused.
        for key in ["model", "path", "file", "directory", "sae_path", "tuned"] where fields[key] != nil {
            throw APIError(.forbidden, "'\(key)': files are never read from a request; the server serves the model, SAEs and lens given on its command line")
        }
        return APIRequest(fields: fields)
    }

    /// JSON true/false: `is Bool` also holds for the numbers 0 and 1 (NSNumber bridging), so
    /// booleans are told apart by their storage type.
    static func isBool(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    func int(_ key: String, default value: Int, _ range: ClosedRange<Int>) throws -> Int {
        guard let raw = fields[key] else { return value }
        guard let number = raw as? NSNumber, !Self.isBool(raw), let int = Int(exactly: number.doubleValue), range.contains(int) else {
            throw APIError.bad("'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), got \(raw)")
        }
        return int
    }

    func float(_ key: String, default value: Float, _ range: ClosedRange<Float>) throws -> Float {
        guard let raw = fields[key] else { return value }
        guard let number = raw as? NSNumber, !Self.isBool(raw), range.contains(number.floatValue) else {
            throw APIError.bad("'\(key)' must be a number in \(range.lowerBound)...\(range.upperBound), got \(raw)")
        }
        return number.floatValue
    }

    func string(_ key: String) throws -> String? {
        guard let raw = fields[key] else { return nil }
        guard let text = raw as? String else { throw APIError.bad("'\(key)' must be a string") }
        return text
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let raw = fields[key] else { return nil }
        // JSON true/false bridge to NSNumber too: a boolean is not an integer.
        guard let list = raw as? [Any], let ints = Optional(list.compactMap { value in
            Self.isBool(value) ? nil : (value as? NSNumber).flatMap { Int(exactly: $0.doubleValue) }
        }), ints.count == list.count else {
            throw APIError.bad("'\(key)' must be a list of integers")
        }
        return ints
    }

    /// The SAE a request names by index into the command line's --sae list (0 when not given).
    func sae(in saes: [SAE]) throws -> (index: Int, sae: SAE) {
        guard !saes.isEmpty else { throw APIError(.notFound, "the server was started without --sae: no SAE features to show") }
        if fields["sae"] is String {
            throw APIError(.forbidden, "'sae' is an index (0..<\(saes.count)) into the SAEs given on the command line, not a path")
        }
        let index = try int("sae", default: 0, 0...(saes.count - 1))
        return (index, saes[index])
    }

    /// The prompt's ids: `prompt` (text) or `token_ids`, one of them, within the server's limit
    /// (or `limit`, smaller for costly analyses) and the model's context. Other keys name another
    /// prompt (the corrupted one of a patching sweep). Runs on the model's queue (the tokenizer is
    /// not thread-safe).
    func promptIDs(_ setup: ServerSetup, reserve: Int = 0, limit: Int? = nil, text textKey: String = "prompt",
                   ids idsKey: String = "token_ids") throws -> [Int32] {
        let model = setup.model
        var ids: [Int32]
        switch (fields[textKey], fields[idsKey]) {
        case (nil, nil): throw APIError.bad("give '\(textKey)' (text) or '\(idsKey)' (a list of integers)")
        case (.some, .some): throw APIError.bad("give '\(textKey)' or '\(idsKey)', not both")
        case (.some, nil):
            guard let text = try string(textKey), !text.isEmpty else { throw APIError.bad("'\(textKey)' must be a non-empty string") }
            guard text.utf8.count <= setup.limits.promptTokens * 16 else { throw APIError(.contentTooLarge, "'\(textKey)' is too long") }
            if model.tokenizer == nil && setup.byteTokens {
                ids = [model.config.bosToken ?? 2] + text.utf8.map { Int32($0) }
            } else {
                ids = try model.encode(text)
            }
        case (nil, .some):
            ids = try (ints(idsKey) ?? []).map { id in
                guard id >= 0, id < model.config.vocabSize else {
                    throw APIError.bad("'\(idsKey)': \(id) is out of range: the vocabulary has \(model.config.vocabSize) tokens")
                }
                return Int32(id)
            }
        }
        guard !ids.isEmpty else { throw APIError.bad("'\(textKey)' has no tokens") }
        let limit = min(limit ?? setup.limits.promptTokens, setup.limits.promptTokens, model.config.contextLength - reserve)
        guard ids.count <= limit else {
            throw APIError(.contentTooLarge, "'\(textKey)' is \(ids.count) tokens; this server takes at most \(limit)\(limit < setup.limits.promptTokens ? " here" : "")")
        }
        return ids
    }

    /// A token given as an id or as text that is exactly one token (the lens's target).
    func token(_ key: String, model: LanternModel) throws -> Int32? {
        guard let raw = fields[key] else { return nil }
        if let number = raw as? NSNumber, !Self.isBool(raw), let id = Int(exactly: number.doubleValue) {
            guard id >= 0, id < model.config.vocabSize else {
                throw APIError.bad("'\(key)': token id \(id) is out of range: the vocabulary has \(model.config.vocabSize) tokens")
            }
            return Int32(id)
        }
        guard let text = raw as? String else { throw APIError.bad("'\(key)' must be a token id or the text of one token") }
        guard let tokenizer = model.tokenizer else { throw APIError.bad("'\(key)': the model has no tokenizer: give an id") }
        let ids = tokenizer.encode(text, addBOS: false)
        guard ids.count == 1 else { throw APIError.bad("'\(key)': '\(text)' is \(ids.count) tokens, not one: give an id") }
        return ids[0]
    }
}
