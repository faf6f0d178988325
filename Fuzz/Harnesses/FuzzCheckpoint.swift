import Foundation
import LanternCore
import Training

/// A trainer checkpoint (safetensors whose metadata holds the run's settings), an SAE's, an SAE
/// fine-tuning run's, a cross-layer transcoder's or a tuned lens's: every number and tensor length
/// is checked against the run it describes before the trainer's loops may use it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.file(data, size, name: "checkpoint.safetensors")
    Fuzz.expectCleanErrors { _ = try SAETrainerState.load(path: path) }
    Fuzz.expectCleanErrors { _ = try TunedLensCheckpoint.load(path: path) }
    Fuzz.expectCleanErrors { _ = try SAEKLCheckpoint.load(path: path) }
    Fuzz.expectCleanErrors { _ = try CrossLayerTrainerState.load(path: path) }
    return 0
}
