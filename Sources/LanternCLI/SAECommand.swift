import ArgumentParser

/// `lantern sae …`: sparse autoencoders.
struct SAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sae",
        abstract: "Train sparse autoencoders on a model's activations.",
        subcommands: [SAETrain.self]
    )
}
