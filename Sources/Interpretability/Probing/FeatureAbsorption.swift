import Foundation
import LanternCore
import Models

/// SAEBench's feature-absorption measure on the first-letter task (Chanin et al. 2024, "A is for
/// Absorption"): the pieces that do not need a model — the vocabulary filter, the in-context
/// prompts, F1 and the feature-splitting rule of the k-sparse probes, and each word's absorption
/// fraction and full-absorption verdict. `SAEAbsorptionRequest` (module Analyses) runs the model.
public enum FeatureAbsorption {
    public static let letters: [Character] = Array("abcdefghijklmnopqrstuvwxyz")

    /// SAEBench's vocabulary filter: a token's text, less one leading space, is non-empty and all
    /// ASCII letters (either case).
    public static func isAlphabeticWord(_ text: String) -> Bool {
        let body = text.hasPrefix(" ") ? text.dropFirst() : Substring(text)
        return !body.isEmpty && body.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
    }

    /// The class of a word: its first letter (spaces and other characters skipped), 0 for a/A … 25 for z/Z.
    public static func letterIndex(_ word: String) -> Int? {
        guard let first = word.unicodeScalars.first(where: { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }) else { return nil }
        return Int(Character(first).lowercased().unicodeScalars.first!.value) - 97
    }

    /// SAEBench's in-context prompt for `word`: each example as the template filled in followed by
    /// its answer (" " and the capital first letter), joined by `separator`, then the separator and
    /// the template for the word itself (no answer); optionally with the separator in front.
    public static func prompt(word: String, examples: [String], template: String = "{word} has the first letter:",
                              separator: String = "\n", separatorFirst: Bool = false) -> String {
        func filled(_ w: String) -> String { template.replacingOccurrences(of: "{word}", with: w) }
        let shots = examples.map { filled($0) + " " + String(letters[letterIndex($0)!]).uppercased() }
        let body = shots.joined(separator: separator) + separator + filled(word)
        return separatorFirst ? separator + body : body
    }

    /// `count` distinct words of `pool` other than `word`, in random order (SAEBench draws
    /// `random.sample(pool, count)` until the word is not among them: the same distribution).
    public static func examples(for word: String, from pool: [String], count: Int, random: inout SeededGenerator) -> [String] {
        var chosen: [String] = [], seen = Set<Int>()
        let eligible = pool.filter { $0 != word }.count
        while chosen.count < min(count, eligible) {
            let i = Int.random(in: 0..<pool.count, using: &random)
            if pool[i] != word, seen.insert(i).inserted { chosen.append(pool[i]) }
        }
        return chosen
    }

    /// scikit-learn's F1 of the predictions `score > 0` against `labels` (0 when there is nothing
    /// to find and nothing found).
    public static func f1(scores: [Double], labels: [Bool]) -> Double {
        var tp = 0, fp = 0, fn = 0
        for (s, l) in zip(scores, labels) {
            if s > 0 { if l { tp += 1 } else { fp += 1 } } else if l { fn += 1 }
        }
        let denominator = 2 * tp + fp + fn
        return denominator == 0 ? 0 : Double(2 * tp) / Double(denominator)
    }

    /// SAEBench's feature splitting: k = 1, 2, … is taken while its probe's F1 beats the best so
    /// far by more than `threshold`; the last k taken (its latents are the letter's main latents).
    public static func splitCount(f1ByK: [Double], threshold: Double = 0.03) -> Int {
        var best = -100.0, chosen = 0
        for (i, f1) in f1ByK.enumerated() {
            guard f1 > best + threshold else { break }
            best = f1
            chosen = i + 1
        }
        return chosen
    }

    /// The cosine of each decoder row W_dec[f] [dSAE, dIn] with `direction`.
    public static func cosines(decoder: [Float], latents dSAE: Int, width dIn: Int, direction: [Double]) -> [Double] {
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return (0..<dSAE).map { f in
            var dot = 0.0, squares = 0.0
            for j in 0..<dIn { let v = Double(decoder[f * dIn + j]); dot += v * direction[j]; squares += v * v }
            return squares > 0 && norm > 0 ? dot / (squares.squareRoot() * norm) : 0
        }
    }

    /// SAEBench's thresholds (its `FeatureAbsorptionCalculator` defaults).
    public struct Thresholds: Sendable, Encodable {
        /// Full absorption: the top-projecting latent's cosine with the probe must reach this.
        public var fullAbsorptionCosine = 0.025
        /// Absorption fraction: a latent may absorb only if its cosine with the probe reaches this.
        public var absorptionFractionCosine = 0.1
        /// Both: the absorbing latent(s) must carry at least this share of the probe projection.
        public var projectionProportion = 0.4
        /// Absorption fraction: at most this many latents absorb together.
        public var maxAbsorbingLatents = 3
        /// A main latent "fires" when |activation| reaches this.
        public var firing = 1e-8

        public init() {}

        enum CodingKeys: String, CodingKey {
            case fullAbsorptionCosine = "full_absorption_probe_cos_sim_threshold"
            case absorptionFractionCosine = "absorption_fraction_probe_cos_sim_threshold"
            case projectionProportion = "probe_projection_proportion_threshold"
            case maxAbsorbingLatents = "absorption_fraction_max_absorbing_latents"
            case firing = "main_latent_firing_threshold"
        }
    }

    /// One word's verdict.
    public struct WordResult: Sendable, Equatable {
        /// The activation's projection on the unit probe direction.
        public var probeProjection: Double
        public var absorptionFraction: Double
        public var isFullAbsorption: Bool
        /// The latent with the largest projection (activation × cosine) and that projection.
        public var topLatent: Int
        public var topProjection: Double
    }

    /// SAEBench's absorption of one word whose letter the probe finds: `activation` [dIn] at the
    /// hook, `latents` [dSAE] its SAE activations, `unitProbe` the probe's direction (unit length),
    /// `cosines` each decoder row's cosine with it, `main` the letter's main latents. A latent's
    /// projection is its activation times its cosine.
    ///
    /// Absorption fraction: with M the main latents' summed projection, P the activation's
    /// projection and T the summed projection of the (at most `maxAbsorbingLatents`) largest
    /// positive projections among the other latents whose cosine reaches
    /// `absorptionFractionCosine`: 0 if M ≥ P or T/P < `projectionProportion`; else 1 if M ≤ 0;
    /// else A/(A + M) with A = min(T, P − M), clipped to [0, 1].
    /// Full absorption: no main latent fires, the top-projecting latent's cosine reaches
    /// `fullAbsorptionCosine`, P ≥ 0, and that latent carries at least `projectionProportion` of P.
    public static func word(activation: [Float], latents: [Float], unitProbe: [Double], cosines: [Double], main: [Int],
                            thresholds t: Thresholds = Thresholds()) -> WordResult {
        var p = 0.0
        for (a, u) in zip(activation, unitProbe) { p += Double(a) * u }
        let projections = zip(latents, cosines).map { Double($0) * $1 }
        let mainSet = Set(main)
        let m = main.reduce(0.0) { $0 + projections[$1] }
        let candidates = projections.indices.filter { !mainSet.contains($0) && cosines[$0] >= t.absorptionFractionCosine && projections[$0] > 0 }
            .map { projections[$0] }.sorted(by: >).prefix(t.maxAbsorbingLatents)
        let total = candidates.reduce(0, +)
        let fraction: Double
        if m >= p || total / p < t.projectionProportion {
            fraction = 0
        } else if m <= 0 {
            fraction = 1
        } else {
            let absorbed = min(total, p - m)
            fraction = min(max(absorbed / (absorbed + m), 0), 1)
        }
        // The top-projecting latent (ties: the lower index).
        var top = 0
        for f in projections.indices where projections[f] > projections[top] { top = f }
        let full = main.allSatisfy { abs(Double(latents[$0])) < t.firing } && cosines[top] >= t.fullAbsorptionCosine
            && p >= 0 && projections[top] / p >= t.projectionProportion
        return WordResult(probeProjection: p, absorptionFraction: fraction, isFullAbsorption: full, topLatent: top, topProjection: projections[top])
    }
}
