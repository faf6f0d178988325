import LanternCore

/// The tensors a file must hold, their shapes written in named sizes (`[d_in, d_sae]`), checked
/// all together from the file's header before any tensor is read: a loader then reads only
/// tensors whose element counts it has agreed to, so a forged shape cannot size an allocation.
///
/// Sizes come from the config (`sizes`, with the config's file name as their origin) or are bound
/// by the first tensor that uses them (`w_enc [d_in, d_sae]` binds both); every later use must
/// agree, and a mismatch names the tensor, its shape, the expected one and where each size came from.
public struct TensorShapes: Sendable {
    public enum Dim: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case size(String)
        case fixed(Int)
        public init(stringLiteral name: String) { self = .size(name) }
        public init(integerLiteral n: Int) { self = .fixed(n) }
    }

    public struct Tensor: Sendable {
        public var name: String
        public var dims: [Dim]
        public var required: Bool
        /// Why a missing required tensor is needed (" (a jump_relu folder needs it)").
        public var why: String

        public init(_ name: String, _ dims: [Dim], required: Bool = true, why: String = "") {
            self.name = name
            self.dims = dims
            self.required = required
            self.why = why
        }
    }

    public var tensors: [Tensor]

    public init(_ tensors: [Tensor]) { self.tensors = tensors }

    /// Checks every declared tensor through `shape` (nil: the file lacks it) and returns the sizes,
    /// given and bound. `sizes` are known beforehand, from `origin` (the config's file name).
    @discardableResult
    public func check(path: String, sizes given: [String: Int] = [:], origin: String = "",
                      shape: (String) throws -> [Int]?) throws -> [String: Int] {
        var sizes = given
        var bound: [(tensor: String, shape: [Int])] = []
        func context() -> String {
            var parts: [String] = []
            if !given.isEmpty {
                parts.append(given.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                             + (origin.isEmpty ? "" : " from \(origin)"))
            }
            parts += bound.map { "\($0.tensor) is \($0.shape)" }
            return parts.joined(separator: ", ")
        }
        for tensor in tensors {
            guard let actual = try shape(tensor.name) else {
                guard !tensor.required else { throw LanternError.badFile(path: path, field: tensor.name, problem: "missing" + tensor.why) }
                continue
            }
            guard actual.count == tensor.dims.count else {
                throw LanternError.badFile(path: path, field: tensor.name, problem: "shape \(actual) should have \(tensor.dims.count) dimensions")
            }
            var binds = false
            var expected: [Int] = []
            for (dim, n) in zip(tensor.dims, actual) {
                switch dim {
                case let .fixed(m): expected.append(m)
                case let .size(name):
                    if let m = sizes[name] {
                        expected.append(m)
                    } else {
                        sizes[name] = n
                        binds = true
                        expected.append(n)
                    }
                }
            }
            guard actual == expected else {
                let ctx = context()
                throw LanternError.badFile(path: path, field: tensor.name,
                                           problem: "shape \(actual), expected \(expected)" + (ctx.isEmpty ? "" : " (\(ctx))"))
            }
            if binds { bound.append((tensor.name, actual)) }
        }
        return sizes
    }
}

extension SafetensorsFile {
    /// A float tensor's shape from the header, nil when absent (for `TensorShapes.check`).
    public func shapeIfPresent(_ name: String) throws -> [Int]? {
        has(name) ? try tensor(name).shape : nil
    }
}
