import Analyses
import ArgumentParser
import Foundation

/// The flags of what `sae train` and `transcoder train` share (`DictionaryTraining`): the
/// dictionary's size and sparsity, the data it sees, and the optimiser. The request checks them.
struct DictionaryTrainingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.width))
    var width: Int

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.k))
    var k: Int?

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.l0))
    var l0: Double?

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.arch))
    var arch: String?

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.tokens))
    var tokens: Int

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.rows))
    var rows: Int?

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.lr))
    var lr: Float = 5e-4

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.batch))
    var batch = 4096

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.sparsityCoefficient))
    var sparsityCoefficient: Double?

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.bandwidth))
    var bandwidth: Float = 0.001

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.seed))
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.normalize))
    var normalize = "scalar"

    @Option(name: .long, help: ArgumentHelp(DictionaryTraining.checkpointEvery))
    var checkpointEvery = 200

    var values: DictionaryTraining {
        DictionaryTraining(width: width, k: k, l0: l0, arch: arch, tokens: tokens, rows: rows, lr: lr, batch: batch,
                           sparsityCoefficient: sparsityCoefficient, bandwidth: bandwidth, seed: seed, normalize: normalize,
                           checkpointEvery: checkpointEvery)
    }
}
