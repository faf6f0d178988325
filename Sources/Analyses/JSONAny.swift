import Foundation

/// A value made of dictionaries, arrays, strings, numbers, booleans and nulls (what
/// JSONSerialization reads and writes) as an `Encodable`: results whose JSON is built by a
/// library writer (Neuronpedia's graph schema) go through `AnalysisJSON` like every other.
public struct JSONAny: Encodable, @unchecked Sendable {
    public let value: Any
    public init(_ value: Any) { self.value = value }

    public func encode(to encoder: any Encoder) throws {
        switch value {
        case let dictionary as [String: Any]:
            var c = encoder.container(keyedBy: AnyKey.self)
            for (key, item) in dictionary { try c.encode(JSONAny(item), forKey: AnyKey(key)) }
        case let array as [Any]:
            var c = encoder.unkeyedContainer()
            for item in array { try c.encode(JSONAny(item)) }
        case let text as String:
            var c = encoder.singleValueContainer()
            try c.encode(text)
        case is NSNull:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case let number as NSNumber:
            var c = encoder.singleValueContainer()
            // Booleans bridge to NSNumber too; integers stay integers.
            if String(cString: number.objCType) == "c" { try c.encode(number.boolValue) }
            else if let int = Int(exactly: number), !"fd".contains(String(cString: number.objCType)) { try c.encode(int) }
            else { try c.encode(number.doubleValue) }
        default:
            throw EncodingError.invalidValue(value, .init(codingPath: encoder.codingPath, debugDescription: "not a JSON value: \(type(of: value))"))
        }
    }
}

/// A JSON key known only at run time (a dashboard's "feature" or "neuron", a dictionary's keys).
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
