import Foundation
import Lantern
import Training

/// SAEBench's feature-absorption evaluation on the first-letter task (`lantern sae absorption`;
/// Chanin et al. 2024), needing no model but the one probed:
///
/// 1. The vocabulary: the tokenizer's tokens whose text, less one leading space, is all ASCII
///    letters (as SAEBench's `get_alpha_tokens`; a text two tokens share is kept once), shuffled
///    and split 80 / 20 into training and test words. `words` takes a seeded sample of that many
///    first, to bound the run; everything after treats the sample as the vocabulary.
/// 2. Each word's prompt: 10 in-context examples drawn from its own split ("{word} has the first
///    letter: X", one per line) and then "{word} has the first letter:"; the activation at the
///    SAE's hook at position −6 from the end (the word's last token when the suffix is 5 tokens,
///    as with Gemma's and GPT-2's tokenizers).
/// 3. The ground-truth probe: 26 one-vs-rest logistic probes on those activations. SAEBench trains
///    them together with Adam (50 epochs, weight decay 1e-4, each letter's positives weighted by
///    negatives / positives); here each is that objective's exact optimum (Newton's method):
///    the weighted mean loss plus ½·26·10⁻⁴‖w‖² per letter (Adam's decay of the mean over the 26
///    outputs), the bias not decayed.
/// 4. k-sparse probing: per letter, an L1-penalised probe on the training words' SAE latents
///    (SAEBench's: the same weighted loss, L1 0.01, weight decay 1e-6 — here its exact optimum by
///    proximal gradient, latents ranked by weight, the zero weights by how strongly the loss pulls
///    them); for k = 1…10 a logistic probe (scikit-learn's, C = 1, classes balanced) on the top k
///    latents, scored by test F1; k grows while F1 beats the best so far by more than 0.03, and the
///    last k's latents are the letter's main latents (their count is the number of split features).
/// 5. Absorption: for each test word of a letter that the ground-truth probe finds (score > 0), a
///    fresh prompt (examples from the whole vocabulary, a newline in front, as SAEBench's
///    calculator builds it) and SAEBench's absorption fraction and full-absorption verdict
///    (`FeatureAbsorption.word`); per letter their mean and rate over those words; the headline
///    figures are their means over the letters that have such words, with sample standard deviations.
///
/// SAEBench takes a latent's projection on the probe as its activation times its decoder row's
/// cosine with the probe, which is its contribution to the reconstruction only when decoder rows
/// have unit norm. Where they do not (Lantern's own SAEs fold their normalisation into W_dec), the
/// result also gives the figures with each activation scaled by its row's norm
/// (`with_decoder_norms`, `mean_with_decoder_norms`); the SAEBench figures are computed as SAEBench does.
///
/// SAEBench refuses to score a model whose probe reaches F1 > 0.6 on fewer than 20 letters
/// (`min_GT_probe_f1`, `min_feats_for_eval`); here the figures are computed anyway and
/// `probe.letters_above_min_f1` says whether SAEBench would have scored them. SAEBench's random
/// draws are unseeded; here they follow `seed`. SAEBench's calculator also asks all absorption
/// prompts to have one length in tokens (for its batches); here each prompt runs at its own length,
/// and position −6 is taken from each prompt's end as SAEBench does.
public struct SAEAbsorptionRequest: JobRequest {
    public static let name = "sae absorption"
    public static let summary = "SAEBench's feature absorption (first-letter task): how often an SAE's first-letter latents fail to fire on words another latent absorbs."
    public static let sae = Field("sae", .string(choices: []), "The SAE folder to evaluate.")
    public static let words = Field("words", .integer(40...10_000_000), "Sample this many words of the vocabulary (default: all of them).")
    public static let maxK = Field("max_k", .integer(1...100), default: "10", "The largest k-sparse probe (SAEBench's max_k_value).")
    public static let threshold = Field("f1_jump_threshold", .number(0...1), default: "0.03", "F1 gain that counts as a split feature.")
    public static let position = Field("position", .integer(-64 ... -1), default: "-6", "Token read, from the prompt's end (−6: the word).")
    public static let seed = Field("seed", .integer(0...Int(Int32.max)), default: "42", "Seed of the vocabulary sample, split and examples.")
    public static let batch = Field("batch", .integer(1...256), default: "16", "Prompts per forward pass.")
    public static let fields = JobModel.fields + [sae, words, maxK, threshold, position, seed, batch]

    public static let template = "{word} has the first letter:"
    public static let examples = 10

    public var model: JobModel
    public var sae: String
    public var words: Int?
    public var maxK: Int
    public var threshold: Double
    public var position: Int
    public var seed: Int
    public var batch: Int
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), sae: String, words: Int? = nil, maxK: Int = 10, threshold: Double = 0.03, position: Int = -6,
                seed: Int = 42, batch: Int = 16) {
        self.model = model
        self.sae = sae
        self.words = words
        self.maxK = maxK
        self.threshold = threshold
        self.position = position
        self.seed = seed
        self.batch = batch
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), sae: try JobFields.required(try json.string(Self.sae), Self.sae), words: try json.int(Self.words),
                  maxK: try json.int(Self.maxK) ?? 10, threshold: try json.double(Self.threshold) ?? 0.03, position: try json.int(Self.position) ?? -6,
                  seed: try json.int(Self.seed) ?? 42, batch: try json.int(Self.batch) ?? 16)
    }

    public func validate() throws {
        let f = frontEnd
        if sae.isEmpty { throw AnalysisError.invalid("\(f.name(Self.sae)): give an SAE folder") }
        if let words { try f.check(words, Self.words) }
        try f.check(maxK, Self.maxK)
        try f.check(threshold, Self.threshold)
        try f.check(position, Self.position)
        try f.check(seed, Self.seed)
        try f.check(batch, Self.batch)
    }

    /// SAEBench's vocabulary of `tokenizer`, sampled to `words` when given, shuffled.
    func vocabulary(_ tokenizer: Tokenizer, random: inout SeededGenerator) throws -> [String] {
        var seen = Set<String>(), vocabulary: [String] = []
        for id in 0..<tokenizer.vocabSize {
            let text = tokenizer.decode([Int32(id)])
            if FeatureAbsorption.isAlphabeticWord(text), seen.insert(text).inserted { vocabulary.append(text) }
        }
        var shuffled = vocabulary.shuffled(using: &random)
        if let words {
            guard words <= shuffled.count else {
                throw AnalysisError.invalid("\(frontEnd.name(Self.words)) \(words): the tokenizer has only \(shuffled.count) alphabetic tokens")
            }
            shuffled = Array(shuffled.prefix(words))
        }
        return shuffled
    }

    public func run(monitor: AnalysisMonitor) throws -> SAEAbsorptionResult {
        let f = frontEnd
        let loaded = try model.load(manyPasses: true, f)
        guard let tokenizer = loaded.tokenizer else {
            throw AnalysisError.invalid("the model has no tokenizer: the first-letter task needs one (its prompts are text)")
        }
        let probed = try JobSAE.load(sae, hook: nil, hookField: Self.sae, loaded, f)
        let hookName = probed.hookName, layer = SAELensExport.layer(ofHook: hookName)
        var random = SeededGenerator(seed: UInt64(seed))
        let vocabulary = try vocabulary(tokenizer, random: &random)
        let cut = Int(Double(vocabulary.count) * 0.8)
        let trainWords = Array(vocabulary[..<cut]), testWords = Array(vocabulary[cut...])
        let d = loaded.config.hiddenSize, b = loaded.backend
        let total = vocabulary.count
        var done = 0

        /// The hook's activation [d] at `position` of each prompt.
        func activations(_ prompts: [String], _ stage: String) throws -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(prompts.count * d)
            for start in stride(from: 0, to: prompts.count, by: batch) {
                let chunk = Array(prompts[start..<min(start + batch, prompts.count)])
                let sequences = chunk.map { tokenizer.encode($0) }
                if let short = sequences.firstIndex(where: { $0.count + position < 0 }) {
                    throw AnalysisError.invalid("\(f.name(Self.position)) \(position) lies before the start of a prompt of \(sequences[short].count) tokens")
                }
                let hooks = sequences.map { _ in Hooks(capture: HookFilter([hookName])) }
                _ = try loaded.transformer.forward(batch: sequences, hooks: hooks, logits: .none, stopAfterLayer: layer)
                for (tokens, h) in zip(sequences, hooks) {
                    guard let x = h.activation(hookName) else { throw AnalysisError.invalid("the forward pass did not produce \(hookName)") }
                    let row = tokens.count + position
                    out += try b.read(try x.rows(row..<(row + 1)))
                }
                done += chunk.count
                try monitor.step(min(done, total), of: total, "sae absorption: \(stage)")
            }
            return out
        }
        func prompts(_ words: [String], pool: [String], separatorFirst: Bool) -> [String] {
            words.map { word in
                FeatureAbsorption.prompt(word: word, examples: FeatureAbsorption.examples(for: word, from: pool, count: Self.examples, random: &random),
                                         template: Self.template, separatorFirst: separatorFirst)
            }
        }
        let trainX = try activations(prompts(trainWords, pool: trainWords, separatorFirst: false), "training words")
        let testX = try activations(prompts(testWords, pool: testWords, separatorFirst: false), "test words")
        let trainLetters = trainWords.map { FeatureAbsorption.letterIndex($0)! }, testLetters = testWords.map { FeatureAbsorption.letterIndex($0)! }
        if let missing = (0..<26).first(where: { !trainLetters.contains($0) }) {
            throw AnalysisError.invalid("no training word begins with '\(FeatureAbsorption.letters[missing])': raise \(f.name(Self.words))")
        }

        // The ground-truth probe, one letter at a time.
        try monitor.step(total, of: total, "sae absorption: fitting the probe")
        let probes = try (0..<26).map { l in
            let labels = trainLetters.map { $0 == l }
            return try LogisticRegression(x: trainX, labels: labels, width: d, c: 1 / (Double(labels.count) * 26e-4), sampleWeights: Self.positiveWeights(labels))
        }
        let testScores = testLetters.indices.map { i in probes.map { $0.score(testX, row: i) } }
        let accuracy = Double(testLetters.indices.filter { i in testScores[i].indices.max { testScores[i][$0] < testScores[i][$1] } == testLetters[i] }.count)
            / Double(testLetters.count)
        let probeF1 = (0..<26).map { l in FeatureAbsorption.f1(scores: testScores.map { $0[l] }, labels: testLetters.map { $0 == l }) }

        // k-sparse probes on the SAE's latents.
        let weights = try probed.hostWeights()
        let w = probed.dSAE
        let decoderNorms = (0..<w).map { f in Float((0..<d).reduce(0.0) { $0 + Double(weights.wDec[f * d + $1]) * Double(weights.wDec[f * d + $1]) }.squareRoot()) }
        let trainLatents = try b.read(try probed.encode(try b.tensor(trainX, shape: [trainWords.count, d])))
        let testLatents = try b.read(try probed.encode(try b.tensor(testX, shape: [testWords.count, d])))
        var letters: [SAEAbsorptionResult.Letter] = []
        var mainLatents: [[Int]] = []
        for l in 0..<26 {
            try monitor.step(l, of: 26, "sae absorption: k-sparse probes")
            let labels = trainLetters.map { $0 == l }, testLabels = testLetters.map { $0 == l }
            let l1 = try SparseLogisticRegression(x: trainLatents, labels: labels, width: w, l1: 0.01, l2: 26e-6,
                                                  sampleWeights: Self.positiveWeights(labels), maxIterations: 3000, tolerance: 1e-8)
            let ranking = l1.ranking()
            var f1ByK: [Double] = []
            for k in 1...maxK {
                let chosen = Array(ranking.prefix(k))
                let probe = try LogisticRegression(x: SparseProbing.columns(trainLatents, width: w, chosen), labels: labels, width: k,
                                                   sampleWeights: LogisticRegression.balancedWeights(labels), iterations: 500)
                let columns = SparseProbing.columns(testLatents, width: w, chosen)
                f1ByK.append(FeatureAbsorption.f1(scores: testLabels.indices.map { probe.score(columns, row: $0) }, labels: testLabels))
            }
            let split = FeatureAbsorption.splitCount(f1ByK: f1ByK, threshold: threshold)
            mainLatents.append(Array(ranking.prefix(split)))
            letters.append(SAEAbsorptionResult.Letter(letter: String(FeatureAbsorption.letters[l]), probeF1: probeF1[l], kSparseF1: f1ByK,
                                                      splitLatents: mainLatents[l]))
        }

        // Absorption on the test words the probe finds, each in a fresh prompt.
        for l in 0..<26 {
            let found = testWords.indices.filter { testLetters[$0] == l && testScores[$0][l] > 0 }
            letters[l].probeTruePositives = found.count
            guard !found.isEmpty else { continue }
            let norm = probes[l].weights.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let unit = probes[l].weights.map { $0 / norm }
            let cosines = FeatureAbsorption.cosines(decoder: weights.wDec, latents: w, width: d, direction: unit)
            let x = try activations(prompts(found.map { testWords[$0] }, pool: vocabulary, separatorFirst: true), "absorption, '\(FeatureAbsorption.letters[l])'")
            let latents = try b.read(try probed.encode(try b.tensor(x, shape: [found.count, d])))
            var fractions = [0.0, 0.0], full = [0, 0]
            for i in found.indices {
                let activation = Array(x[(i * d)..<((i + 1) * d)]), row = Array(latents[(i * w)..<((i + 1) * w)])
                for (v, values) in [row, zip(row, decoderNorms).map { $0 * $1 }].enumerated() {
                    let r = FeatureAbsorption.word(activation: activation, latents: values, unitProbe: unit, cosines: cosines, main: mainLatents[l])
                    fractions[v] += r.absorptionFraction
                    if r.isFullAbsorption { full[v] += 1 }
                }
            }
            letters[l].meanAbsorptionFraction = fractions[0] / Double(found.count)
            letters[l].numFullAbsorption = full[0]
            letters[l].fullAbsorptionRate = Double(full[0]) / Double(found.count)
            letters[l].withDecoderNorms = .init(meanAbsorptionFraction: fractions[1] / Double(found.count), fullAbsorptionRate: Double(full[1]) / Double(found.count))
        }
        return SAEAbsorptionResult(sae: sae, hook: hookName, vocabulary: vocabulary.count, trainWords: trainWords.count, testWords: testWords.count,
                                   probe: .init(accuracy: accuracy, meanF1: probeF1.reduce(0, +) / 26, lettersAboveMinF1: probeF1.filter { $0 > 0.6 }.count),
                                   letters: letters)
    }

    /// SAEBench's `pos_weight`: each positive row weighs negatives / positives, each negative 1.
    static func positiveWeights(_ labels: [Bool]) -> [Double] {
        let positives = Double(labels.filter { $0 }.count), ratio = (Double(labels.count) - positives) / positives
        return labels.map { $0 ? ratio : 1 }
    }
}

/// SAEBench's absorption figures under its names: per letter, and their means over the letters
/// the probe finds test words of.
public struct SAEAbsorptionResult: Encodable, Sendable {
    public struct Probe: Encodable, Sendable {
        /// Test accuracy of the 26-way probe (the letter with the largest score).
        public var accuracy: Double
        /// Mean over the letters of each one-vs-rest probe's test F1 (score > 0).
        public var meanF1: Double
        /// Letters whose probe's test F1 exceeds 0.6: SAEBench scores only models with 20 or more.
        public var lettersAboveMinF1: Int
        enum CodingKeys: String, CodingKey { case accuracy, meanF1 = "mean_f1", lettersAboveMinF1 = "letters_above_min_f1" }
    }
    public struct Letter: Encodable, Sendable {
        public var letter: String
        public var probeF1: Double
        /// Test F1 of the k-sparse probe for k = 1, 2, ….
        public var kSparseF1: [Double]
        /// The main latents: the k-sparse probe's latents at the chosen k.
        public var splitLatents: [Int]
        public var probeTruePositives = 0
        /// nil when the probe finds no test word of the letter (SAEBench leaves the letter out).
        public var meanAbsorptionFraction: Double?
        public var fullAbsorptionRate: Double?
        public var numFullAbsorption = 0
        public var numSplitFeatures: Int { splitLatents.count }
        /// The same figures with each latent's projection scaled by its decoder row's norm.
        public var withDecoderNorms: Variant?

        enum CodingKeys: String, CodingKey {
            case letter = "first_letter", probeF1 = "probe_f1", kSparseF1 = "k_sparse_f1", splitLatents = "split_latents"
            case probeTruePositives = "num_probe_true_positives", meanAbsorptionFraction = "mean_absorption_fraction"
            case fullAbsorptionRate = "full_absorption_rate", numFullAbsorption = "num_full_absorption", numSplitFeatures = "num_split_features"
            case withDecoderNorms = "with_decoder_norms"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(letter, forKey: .letter)
            try c.encode(probeF1, forKey: .probeF1)
            try c.encode(kSparseF1, forKey: .kSparseF1)
            try c.encode(splitLatents, forKey: .splitLatents)
            try c.encode(probeTruePositives, forKey: .probeTruePositives)
            try c.encode(meanAbsorptionFraction, forKey: .meanAbsorptionFraction)
            try c.encode(fullAbsorptionRate, forKey: .fullAbsorptionRate)
            try c.encode(numFullAbsorption, forKey: .numFullAbsorption)
            try c.encode(numSplitFeatures, forKey: .numSplitFeatures)
            try c.encode(withDecoderNorms, forKey: .withDecoderNorms)
        }
    }
    /// A letter's figures in the decoder-norm variant.
    public struct Variant: Encodable, Sendable {
        public var meanAbsorptionFraction: Double
        public var fullAbsorptionRate: Double
        enum CodingKeys: String, CodingKey { case meanAbsorptionFraction = "mean_absorption_fraction", fullAbsorptionRate = "full_absorption_rate" }
    }
    /// SAEBench's `eval_result_metrics.mean`.
    public struct Means: Encodable, Sendable, Equatable {
        public var meanAbsorptionFractionScore: Double?
        public var meanFullAbsorptionScore: Double?
        public var meanNumSplitFeatures: Double?
        /// nil with fewer than two letters.
        public var stdDevAbsorptionFractionScore: Double?
        public var stdDevFullAbsorptionScore: Double?
        public var stdDevNumSplitFeatures: Double?
        enum CodingKeys: String, CodingKey {
            case meanAbsorptionFractionScore = "mean_absorption_fraction_score", meanFullAbsorptionScore = "mean_full_absorption_score"
            case meanNumSplitFeatures = "mean_num_split_features", stdDevAbsorptionFractionScore = "std_dev_absorption_fraction_score"
            case stdDevFullAbsorptionScore = "std_dev_full_absorption_score", stdDevNumSplitFeatures = "std_dev_num_split_features"
        }
    }
    public var sae: String
    public var hook: String
    public var vocabulary: Int
    public var trainWords: Int
    public var testWords: Int
    public var probe: Probe
    public var letters: [Letter]
    public var thresholds = FeatureAbsorption.Thresholds()

    /// Means and sample standard deviations over the letters with probe true positives.
    public var mean: Means {
        let scored = letters.filter { $0.meanAbsorptionFraction != nil }
        return Self.means(scored.map { $0.meanAbsorptionFraction! }, scored.map { $0.fullAbsorptionRate! }, scored.map { Double($0.numSplitFeatures) })
    }

    /// `mean` with each latent's projection scaled by its decoder row's norm.
    public var meanWithDecoderNorms: Means {
        let scored = letters.filter { $0.withDecoderNorms != nil }
        return Self.means(scored.map { $0.withDecoderNorms!.meanAbsorptionFraction }, scored.map { $0.withDecoderNorms!.fullAbsorptionRate },
                          scored.map { Double($0.numSplitFeatures) })
    }

    static func means(_ fractions: [Double], _ rates: [Double], _ splits: [Double]) -> Means {
        func stats(_ v: [Double]) -> (Double?, Double?) {
            guard !v.isEmpty else { return (nil, nil) }
            let m = v.reduce(0, +) / Double(v.count)
            let s = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : nil
            return (m, s)
        }
        let a = stats(fractions), r = stats(rates)
        let n = stats(splits)
        return Means(meanAbsorptionFractionScore: a.0, meanFullAbsorptionScore: r.0, meanNumSplitFeatures: n.0,
                     stdDevAbsorptionFractionScore: a.1, stdDevFullAbsorptionScore: r.1, stdDevNumSplitFeatures: n.1)
    }

    enum CodingKeys: String, CodingKey {
        case sae, hook, vocabulary, trainWords = "train_words", testWords = "test_words", probe, letters = "eval_result_details", thresholds, mean
        case meanWithDecoderNorms = "mean_with_decoder_norms"
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sae, forKey: .sae)
        try c.encode(hook, forKey: .hook)
        try c.encode(vocabulary, forKey: .vocabulary)
        try c.encode(trainWords, forKey: .trainWords)
        try c.encode(testWords, forKey: .testWords)
        try c.encode(probe, forKey: .probe)
        try c.encode(letters, forKey: .letters)
        try c.encode(thresholds, forKey: .thresholds)
        try c.encode(mean, forKey: .mean)
        try c.encode(meanWithDecoderNorms, forKey: .meanWithDecoderNorms)
    }
}
