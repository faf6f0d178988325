import LanternCore

/// Glob patterns over hook names: `*` matches any run of characters (dots included), `?` one.
public struct HookFilter: Sendable, Equatable {
    public let patterns: [String]
    public init(_ patterns: [String]) { self.patterns = patterns }
    public static let none = HookFilter([])
    public static let all = HookFilter(["*"])

    public func matches(_ name: String) -> Bool {
        patterns.contains { Self.glob(Array($0.utf8), Array(name.utf8)) }
    }

    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == s[si] {
                pi += 1; si += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

/// What an intervention sees besides the activation.
public struct HookContext {
    public let name: String
    /// The block the hook is in (nil for hook_embed and ln_final).
    public let layer: Int?
    /// Absolute positions of the rows of the activation (KV-cache decoding starts past 0).
    public let positions: Range<Int>
    public let backend: any Backend
}

/// Replaces an activation: return the tensor to continue with (the same one to only look).
public typealias HookFunction = (_ activation: Tensor, _ context: HookContext) throws -> Tensor

/// The hooks of one forward pass (or one generation): which activations to keep, and which to
/// change. Captured tensors stay on the backend until read. A forward pass without hooks does no
/// hook work at all.
public final class Hooks {
    public let capture: HookFilter
    private var interventions: [(filter: HookFilter, body: HookFunction)] = []
    /// Captured activations in the order the forward pass produced them.
    public private(set) var captured: [(name: String, tensor: Tensor)] = []
    private var decisions: [String: Bool] = [:]

    public init(capture: HookFilter = .none) { self.capture = capture }

    /// Adds an intervention on every hook whose name matches `pattern`.
    public func intervene(_ pattern: String, _ body: @escaping HookFunction) {
        interventions.append((HookFilter([pattern]), body))
        decisions = [:]
    }

    /// Adds `other`'s interventions after this one's (a steering's hooks joined to a caller's own).
    public func intervene(as other: Hooks) {
        interventions.append(contentsOf: other.interventions)
        decisions = [:]
    }

    /// Whether the forward pass must produce `name` (captured or intervened on).
    public func wants(_ name: String) -> Bool {
        if let d = decisions[name] { return d }
        let d = capture.matches(name) || interventions.contains { $0.filter.matches(name) }
        decisions[name] = d
        return d
    }

    /// Whether an intervention may change `name` (not only capture it).
    public func intervenes(_ name: String) -> Bool {
        interventions.contains { $0.filter.matches(name) }
    }

    /// Runs interventions on `name`, then captures the result if asked for.
    func visit(_ name: String, _ x: Tensor, layer: Int?, positions: Range<Int>, backend: any Backend) throws -> Tensor {
        guard wants(name) else { return x }
        var x = x
        for i in interventions where i.filter.matches(name) {
            let context = HookContext(name: name, layer: layer, positions: positions, backend: backend)
            let y = try i.body(x, context)
            guard y.shape == x.shape else {
                throw LanternError.shapeMismatch(op: "hook \(name)", detail: "intervention returned \(y.shape) for \(x.shape)")
            }
            x = y
        }
        if capture.matches(name) { captured.append((name, x)) }
        return x
    }

    /// The captured activation called `name` (the latest, when generation captured it repeatedly).
    public func activation(_ name: String) -> Tensor? { captured.last { $0.name == name }?.tensor }

    public func clearCaptured() { captured.removeAll() }
}

/// The TransformerLens names of one block's hook points, made once per model.
struct BlockHookNames {
    let residPre, ln1Scale, ln1, q, k, v, qNormed, kNormed, rotQ, rotK, scores, pattern, z, result, attnOut, residMid,
        ln2Scale, ln2, mlpPre, mlpPreLinear, mlpPost, mlpOut, residPost: String

    init(layer l: Int) {
        let b = "blocks.\(l)."
        residPre = b + "hook_resid_pre"; ln1Scale = b + "ln1.hook_scale"; ln1 = b + "ln1.hook_normalized"
        q = b + "attn.hook_q"; k = b + "attn.hook_k"; v = b + "attn.hook_v"
        // TransformerLens's bridge names the QK-norm outputs so (hook_q stays the projection's output).
        qNormed = b + "attn.hook_q_normed"; kNormed = b + "attn.hook_k_normed"
        rotQ = b + "attn.hook_rot_q"; rotK = b + "attn.hook_rot_k"; scores = b + "attn.hook_attn_scores"
        pattern = b + "attn.hook_pattern"; z = b + "attn.hook_z"; result = b + "attn.hook_result"
        attnOut = b + "hook_attn_out"; residMid = b + "hook_resid_mid"
        ln2Scale = b + "ln2.hook_scale"; ln2 = b + "ln2.hook_normalized"
        mlpPre = b + "mlp.hook_pre"; mlpPreLinear = b + "mlp.hook_pre_linear"; mlpPost = b + "mlp.hook_post"
        mlpOut = b + "hook_mlp_out"; residPost = b + "hook_resid_post"
    }

    /// The hook points a block of `config`'s family has, in forward order: no ln1/ln2 where the
    /// branches read the residual unnormalised (OLMo 2), q/k_normed only with a QK-norm, rot_q/rot_k
    /// only with RoPE (not GPT-2), no resid_mid in a parallel block (GPT-NeoX: as TransformerLens,
    /// whose parallel blocks have none), pre_linear only in a gated MLP.
    func all(_ config: ModelConfig) -> [String] {
        let inputNorm = { (scale: String, normalized: String) in config.preNorms ? [scale, normalized] : [] }
        return [residPre] + inputNorm(ln1Scale, ln1) + [q, k, v] + (config.qkNorm == nil ? [] : [qNormed, kNormed])
            + (config.rotary ? [rotQ, rotK] : []) + [scores, pattern, z, result, attnOut]
            + (config.parallelResidual ? [] : [residMid]) + inputNorm(ln2Scale, ln2)
            + [mlpPre] + (config.gatedMLP ? [mlpPreLinear] : []) + [mlpPost, mlpOut, residPost]
    }

    /// The hook points whose activations attention reads as its queries and keys: after RoPE, or
    /// the projections themselves where there is none (GPT-2).
    func attentionInputs(_ config: ModelConfig) -> (q: String, k: String) {
        config.rotary ? (rotQ, rotK) : config.qkNorm != nil ? (qNormed, kNormed) : (q, k)
    }
}

public enum HookNames {
    public static let embed = "hook_embed"
    /// GPT-2's learned position embedding of each row, added to hook_embed.
    public static let posEmbed = "hook_pos_embed"
    public static let finalScale = "ln_final.hook_scale"
    public static let finalNorm = "ln_final.hook_normalized"

    /// Every hook point of a model with `config`, in forward order.
    public static func all(_ config: ModelConfig) -> [String] {
        [embed] + (config.positions == .learned ? [posEmbed] : [])
            + (0..<config.layerCount).flatMap { BlockHookNames(layer: $0).all(config) } + [finalScale, finalNorm]
    }

    /// Attention scores [heads, n, keys] (before the softmax, masked keys −∞) and patterns (after it).
    public static func isAttentionMap(_ name: String) -> Bool {
        name.hasSuffix("attn.hook_pattern") || name.hasSuffix("attn.hook_attn_scores")
    }

    /// Hook points a backward pass gives no gradient at: the attention maps and the norms' scales
    /// (a gradient reaches the residual through the norm as a whole). Their activations come back
    /// alone when asked for.
    public static func hasNoGradient(_ name: String) -> Bool {
        isAttentionMap(name) || name.hasSuffix(".hook_scale")
    }

    /// Each hook point's place in forward order (to sort results gathered out of order).
    public static func forwardIndex(_ config: ModelConfig) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: all(config).enumerated().map { ($1, $0) })
    }
}
