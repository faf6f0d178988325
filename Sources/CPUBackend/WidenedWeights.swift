import Foundation
import LanternCore

/// How much memory weights widened to f32 may take, for one backend. Many-row work (traces, the
/// lens, harvests, evaluations) multiplies the same weight matrices by new activations over and
/// over; widening a quantised or 16-bit matrix into the packed GEMM's panels costs about as much
/// as the arithmetic of a 128-row product, so keeping the widened panels pays from the second call.
/// Decoding (one token at a time) never widens: it reads the stored bytes, which is what bounds it.
public final class WideningBudget: @unchecked Sendable {
    /// Bytes of widened panels allowed at once.
    public let limit: Int
    private var used = 0
    private let lock = NSLock()

    public init(limit: Int) { self.limit = max(0, limit) }

    /// A quarter of the machine's memory: the default when a command widens.
    public static var defaultLimit: Int { Int(ProcessInfo.processInfo.physicalMemory / 4) }

    /// Bytes held now.
    public var bytesUsed: Int { lock.withLock { used } }

    func reserve(_ bytes: Int) -> Bool {
        lock.withLock {
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) { lock.withLock { used -= bytes } }
}

/// One weight matrix [m, k] widened to f32 in the kernels' panel layout (`CPUKernelSet.widenPanels`):
/// ⌈m / panelWidth⌉ panels of [k][panelWidth] floats, in memory mapped for it and counted against
/// the budget until released.
final class WidenedPanels: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    private let byteCount: Int
    private let budget: WideningBudget

    /// Room for an [m, k] matrix, or nil when the budget has none left.
    init?(m: Int, k: Int, panelWidth: Int, budget: WideningBudget) {
        let panels = (m + panelWidth - 1) / panelWidth
        let (count, overflow) = panels.multipliedReportingOverflow(by: k * panelWidth)
        guard !overflow, budget.reserve(count * 4) else { return nil }
        self.budget = budget
        byteCount = count * 4
        base = HostMemory.map(byteCount).assumingMemoryBound(to: Float.self)
    }

    deinit {
        HostMemory.unmap(base, byteCount)
        budget.release(byteCount)
    }
}

extension CPUStorage {
    /// The widened panels of the [m, k] matrix at `offset` in this storage, made on first use.
    /// Only weights are widened (file-backed, or made by `weight(_:shape:name:)`): their bytes never
    /// change, so the panels never go stale. Activations and trained parameters are not.
    func widened(offset: Int, m: Int, k: Int, panelWidth: Int, budget: WideningBudget,
                 make: (WidenedPanels) -> Void) -> WidenedPanels? {
        guard isWeight else { return nil }
        return widenedLock.withLock {
            let key = WidenedKey(offset: offset, m: m, k: k, panelWidth: panelWidth)
            if let panels = widenedPanels[key] { return panels }
            guard let panels = WidenedPanels(m: m, k: k, panelWidth: panelWidth, budget: budget) else { return nil }
            make(panels)
            widenedPanels[key] = panels
            return panels
        }
    }
}

/// Backends on different kernel builds may share a weight: their panel widths differ.
struct WidenedKey: Hashable {
    let offset: Int, m: Int, k: Int, panelWidth: Int
}

/// One lock for every storage's panel table: widening is rare (once per weight), lookups are cheap.
let widenedLock = NSLock()
