import Foundation
import Lantern

/// One SAE's corpus scan for its feature dashboards, run in the background one context (one
/// forward pass) per job on the model's queue, so interactive requests slip in between.
final class BackgroundScan: @unchecked Sendable {
    /// The scan's settings: `lantern feature`'s defaults.
    static var options: FeatureScan.Options { FeatureScan.Options() }

    let sae: SAE
    let total: Int
    let contextLength: Int
    private let lock = NSLock()
    private var done = 0
    private var failure: String?
    /// Touched only by jobs on the model's queue while the scan runs; read-only once finished.
    private let scan: FeatureScan
    private var finished = false

    init(sae: SAE, contexts: Int, contextLength: Int, bos: Int32?) {
        self.sae = sae
        total = contexts
        self.contextLength = contextLength
        scan = FeatureScan(width: sae.dSAE, bos: bos, options: Self.options)
    }

    /// The scan once every context is in (nil before).
    var finishedScan: FeatureScan? {
        lock.lock(); defer { lock.unlock() }
        return finished ? scan : nil
    }

    var progress: [String: Any] {
        lock.lock(); defer { lock.unlock() }
        var o: [String: Any] = ["sae": sae.source, "hook": sae.hookName, "contexts_done": done, "contexts": total,
                                "tokens_done": done * contextLength, "state": failure != nil ? "failed" : finished ? "done" : "scanning"]
        if let failure { o["error"] = failure }
        return o
    }

    /// Scans `contexts` one job at a time; stops early when the task is cancelled (server shutdown).
    func run(contexts: [[Int32]], model: LanternModel, queue: ModelQueue) async {
        let scan = UncheckedBox(self.scan), sae = self.sae
        do {
            for context in contexts {
                try Task.checkCancellation()
                try await queue.run { try scan.value.add(context: context, model: model.transformer, units: sae) }
                lock.withLock { done += 1 }
            }
            lock.withLock { finished = true }
        } catch is CancellationError {
            return
        } catch {
            lock.withLock { failure = String(describing: error) }
        }
    }
}
