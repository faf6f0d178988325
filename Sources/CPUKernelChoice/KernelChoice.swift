import CIntrinsics
import CPUKernels
import Foundation
import LanternCore
#if canImport(wideKernelsAVX2) && canImport(wideKernelsAVX512)
import wideKernelsAVX2
import wideKernelsAVX512
#endif

/// Which build of the kernels runs (for the CPU backend and for training's sparse products): the widest this CPU (and its OS) supports, unless
/// `LANTERN_ISA=avx512|avx2|baseline` asks for another. Chosen once, on first use; every
/// `CPUBackend()` then shares it, and `CPUBackend(instructionSet:)` runs another side by side
/// (the tests compare them).
public enum KernelChoice {
    /// The instruction sets this CPU runs, widest first.
    public static let supported: [CPUInstructionSet] = {
        #if canImport(wideKernelsAVX2) && canImport(wideKernelsAVX512)
        switch lantern_x86_64_level() {
        case 4...: return [.avx512, .avx2, .baseline]
        case 3: return [.avx2, .baseline]
        default: return [.baseline]
        }
        #else
        return [.baseline]
        #endif
    }()

    /// The kernels every `CPUBackend()` uses.
    public static let selected: any CPUKernelSet = {
        let best = supported[0]
        guard let asked = ProcessInfo.processInfo.environment["LANTERN_ISA"], !asked.isEmpty else { return kernels(best)! }
        guard let isa = CPUInstructionSet(rawValue: asked.lowercased()) else {
            warn("LANTERN_ISA=\(asked) is not one of avx512, avx2, baseline; running \(best.rawValue)")
            return kernels(best)!
        }
        guard let set = kernels(isa) else {
            warn("LANTERN_ISA=\(asked): this CPU runs only \(supported.map(\.rawValue).joined(separator: ", ")); running \(best.rawValue)")
            return kernels(best)!
        }
        return set
    }()

    /// The kernels built for `isa`, or nil where this CPU cannot run them.
    public static func kernels(_ isa: CPUInstructionSet) -> (any CPUKernelSet)? {
        guard supported.contains(isa) else { return nil }
        switch isa {
        #if canImport(wideKernelsAVX2) && canImport(wideKernelsAVX512)
        case .avx512: return wideKernelsAVX512.KernelSet()
        case .avx2: return wideKernelsAVX2.KernelSet()
        #else
        case .avx512, .avx2: return nil
        #endif
        case .baseline: return CPUKernels.KernelSet()
        }
    }

    private static func warn(_ line: String) {
        FileHandle.standardError.write(Data("lantern: \(line)\n".utf8))
    }
}
