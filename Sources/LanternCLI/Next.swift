import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern next`: the most likely next tokens after a prompt, with probabilities.
struct Next: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the most likely next tokens after a prompt.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: ArgumentHelp(NextRequest.top))
    var top = 10

    @Flag(name: .long, help: "Print JSON: ids, and top as a list of {id, token, prob, logit}.")
    var json = false

    func validate() throws {
        try OptionCheck.field(top, NextRequest.top)
    }

    func run() throws {
        let loaded = try model.load()
        let context = loaded.analysisContext()
        let request = NextRequest(prompt: try prompt.input(), top: top)
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        if json { return try printJSON(result) }
        print("after \(loaded.decode(result.ids.map(Int32.init)).debugDescription) (\(result.ids.count) tokens):")
        for (rank, candidate) in result.top.enumerated() {
            let bar = String(repeating: "█", count: Int((candidate.prob * 40).rounded()))
            print(pad("\(rank + 1).", 4) + pad(loaded.display(Int32(candidate.id)).debugDescription, 18)
                  + pad(String(format: "%6.2f%%", candidate.prob * 100), 9) + bar)
        }
    }
}
