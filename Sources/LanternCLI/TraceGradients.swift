import ArgumentParser
import Foundation
import Lantern

/// `lantern trace --grad-target A --grad-baseline B`: the gradient of a logit difference with
/// respect to every saved hook activation, written beside it as `grad:{hook}` (TraceRequest).
struct GradientOptions: ParsableArguments {
    @Option(name: .long, help: "Also save gradients of logit[target] − logit[baseline] (id, or text that is one token).")
    var gradTarget: String?
    @Option(name: .long, help: "The baseline token of the gradient's logit difference.")
    var gradBaseline: String?
    @Option(name: .long, help: "The position of the gradient's logit difference (default: the last).")
    var gradPosition: Int?

    func validate() throws {
        try OptionCheck.integer(gradPosition, "--grad-position", 0...1 << 20)
    }
}
