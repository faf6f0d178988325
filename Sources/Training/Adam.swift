import Foundation

/// Adam (Kingma & Ba 2015) with bias correction, one pair of moment vectors per parameter tensor.
public struct Adam: Sendable, Equatable {
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Updates taken so far.
    public var step = 0
    public var firstMoments: [[Float]]
    public var secondMoments: [[Float]]

    public init(learningRate: Float, sizes: [Int]) {
        self.learningRate = learningRate
        firstMoments = sizes.map { [Float](repeating: 0, count: $0) }
        secondMoments = firstMoments
    }

    /// Counts one step; call before `update`ing each tensor of that step.
    public mutating func beginStep() { step += 1 }

    /// parameter −= lr · m̂ / (√v̂ + ε) for tensor `index`.
    public mutating func update(_ parameter: inout [Float], gradient: [Float], index: Int) {
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let (b1, b2, lr, eps) = (beta1, beta2, learningRate, epsilon)
        firstMoments[index].withUnsafeMutableBufferPointer { m in
            secondMoments[index].withUnsafeMutableBufferPointer { v in
                for i in 0..<parameter.count {
                    let g = gradient[i]
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    parameter[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                }
            }
        }
    }
}
