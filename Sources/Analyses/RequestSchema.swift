import Foundation

extension Field {
    /// The field's JSON Schema (OpenAPI 3.1) under the server's limits: its type, range, choices,
    /// default and help.
    public func schema(limits: AnalysisLimits) -> [String: Any] {
        var s: [String: Any]
        switch kind {
        case .integer:
            let range = integers(under: limits)!
            s = ["type": "integer", "minimum": range.lowerBound, "maximum": range.upperBound]
        case .number:
            let range = numbers(under: limits)!
            s = ["type": "number"]
            if range.lowerBound.isFinite { s["minimum"] = range.lowerBound }
            if range.upperBound.isFinite { s["maximum"] = range.upperBound }
        case let .string(choices):
            s = choices.isEmpty ? ["type": "string"] : ["type": "string", "enum": choices]
        case .integers: s = ["type": "array", "items": ["type": "integer"]]
        case .numbers: s = ["type": "array", "items": ["type": "number"]]
        case .strings: s = ["type": "array", "items": ["type": "string"]]
        case .boolean: s = ["type": "boolean"]
        case .token: s = ["oneOf": [["type": "integer", "minimum": 0], ["type": "string"]]]
        case let .objects(fields):
            var items: [String: Any] = ["type": "object", "required": fields.map(\.key), "additionalProperties": false,
                                        "properties": Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.schema(limits: limits)) })]
            if let cap = limit?.value(in: limits), cap.isFinite { s = ["type": "array", "maxItems": Int(cap)] } else { s = ["type": "array"] }
            items["description"] = "One entry."
            s["items"] = items
        }
        s["description"] = help + (defaultText.map { " Default: \($0)." } ?? "")
        return s
    }
}

extension AnalysisRequest {
    /// The request body's JSON Schema: every field, no others.
    public static func requestSchema(limits: AnalysisLimits) -> [String: Any] {
        ["type": "object", "additionalProperties": false,
         "properties": Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.schema(limits: limits)) })]
    }
}
