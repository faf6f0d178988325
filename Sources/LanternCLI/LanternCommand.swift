import ArgumentParser
import Lantern

@main
struct LanternCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lantern",
        abstract: "Run Gemma-family language models and look inside them.",
        subcommands: [Next.self, Generate.self, Trace.self, Tokenize.self, Devices.self, Bench.self,
                      Lens.self, Features.self, FeatureCommand.self, Neurons.self, NeuronCommand.self, Harvest.self, SAECommand.self,
                      Steer.self, Patch.self, ModelsCommand.self, Superposition.self,
                      TranscoderCommand.self, Attribute.self, Attention.self, GraphCommand.self, Serve.self]
    )
}
