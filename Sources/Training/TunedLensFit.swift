import Foundation
import Interpretability
import LanternCore
import Models

/// A tuned lens in closed form: each translator is the affine map that best predicts the model's
/// last residual (what the model's own head reads) from its row's residual, in least squares over
/// the model's activations on a corpus. Cheap next to training on KL — two [d+1]² products per row
/// and token instead of two products with the unembedding — and a far better start than zero:
/// Adam then only has to move from the regression to the KL optimum.
///
/// Per row i, with X = [hᵢ, 1] (n × (d+1)) and Y the last residual (n × d), the ridge solution
/// β = (XᵀX + λ·mean(diag XᵀX)·I)⁻¹ XᵀY, solved by Cholesky in Float64. The products run on the
/// backend per context in f32 over columns divided by their RMS (Gemma's residual has dimensions
/// hundreds of times larger than the rest: unscaled, f32 sums would lose the small ones) and are
/// summed over contexts in Float64. The translator acts residually (h + h·Wᵀ + b), so W = βᵀ − I.
public enum TunedLensFit {
    public struct Options: Sendable {
        /// Positions to fit on (BOS left out).
        public var tokens: Int
        /// Tokens per context, BOS included.
        public var context: Int
        /// Ridge, relative to the mean diagonal of each row's scaled XᵀX: well above the f32 products'
        /// rounding (~1e-7 of the diagonal), so that a direction the text never moves along (the
        /// embedding row spans only the tokens seen) stays solvable.
        public var ridge: Double

        public init(tokens: Int, context: Int = 128, ridge: Double = 1e-5) {
            self.tokens = tokens
            self.context = context
            self.ridge = ridge
        }
    }

    /// The fitted lens; `progress(positions fitted, of)` after each context (what it throws stops the fit).
    public static func fit(model: Transformer, packer: ContextPacker, options o: Options, name: String,
                           progress: (Int, Int) throws -> Void = { _, _ in }) throws -> TunedLens {
        guard o.tokens > 0, o.context >= 2, o.context <= model.config.contextLength, o.ridge >= 0 else {
            throw LanternError.invalidArgument("a least-squares fit needs tokens > 0, a context in 2...\(model.config.contextLength) and ridge ≥ 0")
        }
        let b = model.backend, c = model.config, d = c.hiddenSize, w = d + 1
        let hooks = LogitLens.residualHooks(c)
        let rows = c.layerCount, target = hooks[rows]
        var gram = [[Double]](repeating: [Double](repeating: 0, count: w * w), count: rows)
        var cross = [[Double]](repeating: [Double](repeating: 0, count: w * d), count: rows)
        var scales: [[Float]]?
        var fitted = 0
        try packer.forEachContext { _, context in
            let capture = Hooks(capture: HookFilter(hooks))
            try model.forward(context, hooks: capture, logits: .none)
            let take = min(context.count - 1, o.tokens - fitted)
            guard take > 0 else { return fitted < o.tokens }
            let positions = 1..<(1 + take)
            func rowsOf(_ name: String) throws -> [Float] {
                guard let a = capture.activation(name) else { throw LanternError.backend("the forward pass did not produce \(name)") }
                return try b.read(try a.rows(positions))
            }
            let y = try rowsOf(target)
            let yT = try b.tensor(transposed(y, rows: take, width: d), shape: [d, take])
            let residuals = try hooks.prefix(rows).map(rowsOf)
            if scales == nil { scales = residuals.map { TunedLensTrainer.dimensionScales($0, width: d) + [1] } }
            for row in 0..<rows {
                // Xᵀ with every column divided by its scale, and a last row of ones (the intercept).
                var xT = [Float](repeating: 1, count: w * take)
                let s = scales![row]
                for p in 0..<take { for j in 0..<d { xT[j * take + p] = residuals[row][p * d + j] / s[j] } }
                let xTensor = try b.tensor(xT, shape: [w, take])
                let g = try b.read(try b.matmul(xTensor, xTensor)), x = try b.read(try b.matmul(xTensor, yT))
                for k in 0..<(w * w) { gram[row][k] += Double(g[k]) }
                for k in 0..<(w * d) { cross[row][k] += Double(x[k]) }
            }
            fitted += take
            try progress(fitted, o.tokens)
            return fitted < o.tokens
        }
        guard fitted > 0, let scales else { throw LanternError.invalidArgument("the corpus gave no tokens to fit on") }
        var lens = TunedLens(for: model, name: name)
        for row in 0..<rows {
            let beta = try solveRidge(gram[row], cross[row], size: w, outputs: d, ridge: o.ridge)
            let s = scales[row]
            for out in 0..<d {
                for i in 0..<d { lens.weights[row][out * d + i] = Float(beta[i * d + out] / Double(s[i])) - (out == i ? 1 : 0) }
                lens.biases[row][out] = Float(beta[d * d + out])
            }
        }
        return lens
    }

    static func transposed(_ x: [Float], rows: Int, width: Int) -> [Float] {
        var t = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for j in 0..<width { t[j * rows + r] = x[r * width + j] } }
        return t
    }

    /// β [size, outputs] solving (A + λ·mean(diag A)·I) β = B (`RidgeSolve`), or one line saying what to change.
    static func solveRidge(_ a: [Double], _ rhs: [Double], size n: Int, outputs m: Int, ridge: Double) throws -> [Double] {
        do {
            return try RidgeSolve.solve(a, rhs, size: n, outputs: m, ridge: ridge)
        } catch let singular as RidgeSolve.Singular {
            throw LanternError.invalidArgument("the least-squares system is singular at column \(singular.column): fit on more tokens or raise the ridge")
        }
    }
}
