import Foundation
import Lantern
import Training

/// SAEBench's sparse probing (`lantern sae probe`): how well k SAE latents, chosen by their
/// mean difference, classify a labelled corpus's documents (one-vs-rest per class, test
/// accuracy), beside probes on the model's own dimensions (k of them, and all). Each example is a
/// context cut from one document, its activations averaged over its positions, BOS left out;
/// documents are split between train and test whole (every fifth document of a class is a test
/// document), so no test context shares a document with a training one. The default corpus
/// labels each document with its source (Django's or Docutils' documentation, news, Shakespeare).
public struct SAEProbeRequest: JobRequest {
    public static let name = "sae probe"
    public static let summary = "SAEBench's k-sparse probing: test accuracy of probes on the k SAE latents (or model dimensions) that best separate each class of a labelled corpus."
    public static let saes = Field("saes", .strings, "SAE folders to probe (all read the same hook).")
    public static let hook = Field("hook", .string(choices: []), "The hook the SAEs read, overriding their own.")
    public static let label = Field("label", .string(choices: []), default: "source",
                                    "The JSON Lines field that labels each document (the classes).")
    public static let train = Field("train", .integer(2...1_000_000), default: "200", "Training contexts per class.")
    public static let test = Field("test", .integer(2...1_000_000), default: "80", "Test contexts per class (the default corpus's held-back news documents give 90 of 128 tokens).")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
    public static let ks = Field("k", .integers, default: "1,2,5", "Probe sizes: latents (or model dimensions) each probe reads.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, saes, hook, label, train, test, context, ks]

    public var model: JobModel
    public var corpus: CorpusSource
    public var saes: [String]
    public var hook: String?
    public var label: String
    public var train: Int
    public var test: Int
    public var context: Int
    public var ks: [Int]
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), saes: [String], hook: String? = nil, label: String = "source",
                train: Int = 200, test: Int = 80, context: Int = 128, ks: [Int] = [1, 2, 5]) {
        self.model = model
        self.corpus = corpus
        self.saes = saes
        self.hook = hook
        self.label = label
        self.train = train
        self.test = test
        self.context = context
        self.ks = ks
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json), saes: try JobFields.required(try json.strings(Self.saes), Self.saes),
                  hook: try json.string(Self.hook), label: try json.string(Self.label) ?? "source", train: try json.int(Self.train) ?? 200,
                  test: try json.int(Self.test) ?? 80, context: try json.int(Self.context) ?? 128, ks: try json.ints(Self.ks) ?? [1, 2, 5])
    }

    public func validate() throws {
        let f = frontEnd
        if saes.isEmpty { throw AnalysisError.invalid("\(f.name(Self.saes)): give at least one SAE") }
        try f.check(train, Self.train)
        try f.check(test, Self.test)
        try f.check(context, Self.context)
        guard !ks.isEmpty, ks.allSatisfy({ (1...4096).contains($0) }) else {
            throw AnalysisError.invalid("\(f.name(Self.ks)) must list probe sizes in 1...4096, got \(ks)")
        }
    }

    /// Per class, the training and test contexts: BOS + `context − 1` tokens, taken round-robin
    /// over the class's documents (the first context of each, then the second, …) for spread.
    func contexts(_ loaded: LanternModel) throws -> (classes: [String], train: [[[Int32]]], test: [[[Int32]]]) {
        var source = corpus
        source.notice = frontEnd.notice
        let packer = try source.packer(for: loaded, length: context)
        let documents = try packer.corpus.labelledDocuments(field: label)
        let classes = Array(Set(documents.map(\.label))).sorted()
        guard classes.count >= 2 else {
            throw AnalysisError.invalid("\(frontEnd.name(Self.label)) '\(label)' gives \(classes.count) class(es) in the corpus: probing needs at least two")
        }
        var train: [[[Int32]]] = [], test: [[[Int32]]] = []
        for name in classes {
            var pieces: (train: [[[Int32]]], test: [[[Int32]]]) = ([], [])
            for (i, document) in documents.filter({ $0.label == name }).enumerated() {
                let tokens = try packer.encode(document.text), n = context - 1
                let cut = stride(from: 0, to: tokens.count - n + 1, by: n).map { [packer.bos] + tokens[$0..<($0 + n)] }
                if i % 5 == 4 { pieces.test.append(cut) } else { pieces.train.append(cut) }
            }
            func roundRobin(_ lists: [[[Int32]]], _ count: Int, _ split: String) throws -> [[Int32]] {
                var out: [[Int32]] = [], round = 0
                while out.count < count, lists.contains(where: { $0.count > round }) {
                    for list in lists where list.count > round && out.count < count { out.append(list[round]) }
                    round += 1
                }
                guard out.count == count else {
                    throw AnalysisError.invalid("class '\(name)' has \(out.count) \(split) contexts of \(context) tokens, fewer than \(count): lower \(frontEnd.name(split == "training" ? Self.train : Self.test)) or \(frontEnd.name(Self.context))")
                }
                return out
            }
            train.append(try roundRobin(pieces.train, self.train, "training"))
            test.append(try roundRobin(pieces.test, self.test, "test"))
        }
        return (classes, train, test)
    }

    public func run(monitor: AnalysisMonitor) throws -> SAEProbeResult {
        let f = frontEnd
        let loaded = try model.load(manyPasses: true, f)
        let loadedSAEs = try saes.map { try JobSAE.load($0, hook: hook, hookField: Self.hook, loaded, f) }
        let hookName = loadedSAEs[0].hookName
        if let other = loadedSAEs.first(where: { $0.hookName != hookName }) {
            throw AnalysisError.invalid("\(f.name(Self.saes)): \(other.source) reads \(other.hookName), not \(hookName) as \(loadedSAEs[0].source) does: probe SAEs of one hook together")
        }
        let layer = SAELensExport.layer(ofHook: hookName)  // the pass stops after it
        let (classes, trainContexts, testContexts) = try contexts(loaded)
        let d = loaded.config.hiddenSize, b = loaded.backend
        let total = classes.count * (train + test)
        var done = 0
        /// Pooled inputs of every context of one split: the model's, then each SAE's.
        func pooled(_ perClass: [[[Int32]]]) throws -> [SparseProbing.Split] {
            var splits = [SparseProbing.Split(width: d, classes: [])] + loadedSAEs.map { SparseProbing.Split(width: $0.dSAE, classes: []) }
            for contexts in perClass {
                var rows = splits.map { _ in [Float]() }
                for tokens in contexts {
                    let hooks = Hooks(capture: HookFilter([hookName]))
                    _ = try loaded.transformer.forward(tokens, hooks: hooks, logits: .none, stopAfterLayer: layer)
                    guard let x = hooks.activation(hookName) else { throw AnalysisError.invalid("the forward pass did not produce \(hookName)") }
                    let positions = 1..<tokens.count  // BOS left out
                    rows[0] += Self.mean(try b.read(try x.rows(positions)), width: d)
                    for (i, sae) in loadedSAEs.enumerated() {
                        rows[i + 1] += Self.mean(try b.read(try sae.encode(try x.rows(positions))), width: sae.dSAE)
                    }
                    done += 1
                    try monitor.step(done, of: total, "sae probe: activations")
                }
                for i in splits.indices { splits[i].classes.append(rows[i]) }
            }
            return splits
        }
        let trainSplits = try pooled(trainContexts), testSplits = try pooled(testContexts)
        func probes(_ i: Int) throws -> [SAEProbeResult.Probe] {
            try ks.map { k in SAEProbeResult.Probe(k: k, accuracy: try SparseProbing.accuracies(train: trainSplits[i], test: testSplits[i], k: k)) }
        }
        let model = SAEProbeResult.Model(all: try SparseProbing.accuracies(train: trainSplits[0], test: testSplits[0], k: nil), topK: try probes(0))
        let probed = try loadedSAEs.indices.map { SAEProbeResult.ProbedSAE(sae: loadedSAEs[$0].source, topK: try probes($0 + 1)) }
        return SAEProbeResult(hook: hookName, label: label, classes: classes, train: train, test: test, context: context, model: model, saes: probed)
    }

    static func mean(_ x: [Float], width: Int) -> [Float] {
        let n = x.count / width
        var sums = [Double](repeating: 0, count: width)
        for i in 0..<n { for j in 0..<width { sums[j] += Double(x[i * width + j]) } }
        return sums.map { Float($0 / Double(max(n, 1))) }
    }
}

/// Test accuracies per class (in `classes` order) and their mean, for each probe.
public struct SAEProbeResult: Encodable, Sendable {
    public struct Probe: Encodable, Sendable {
        public var k: Int
        public var accuracy: [Double]
        public var mean: Double { accuracy.reduce(0, +) / Double(max(accuracy.count, 1)) }
        enum CodingKeys: String, CodingKey { case k, accuracy, mean }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(k, forKey: .k)
            try c.encode(accuracy, forKey: .accuracy)
            try c.encode(mean, forKey: .mean)
        }
    }
    public struct Model: Encodable, Sendable {
        /// The probe on every model dimension.
        public var all: [Double]
        public var topK: [Probe]
        enum CodingKeys: String, CodingKey { case all, topK = "top_k" }
    }
    public struct ProbedSAE: Encodable, Sendable {
        public var sae: String
        public var topK: [Probe]
        enum CodingKeys: String, CodingKey { case sae, topK = "top_k" }
    }
    public var hook: String
    public var label: String
    public var classes: [String]
    public var train: Int
    public var test: Int
    public var context: Int
    public var model: Model
    public var saes: [ProbedSAE]
}
