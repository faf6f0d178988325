import Foundation
@testable import Formats
import LanternCore
@testable import Models
@testable import Tokenizers

/// GGUF: the whole reader (metadata values of every type, nested arrays, the tensor table), then
/// what a model load does with it: the configuration, the weight mapping (dequantising every
/// tensor) and the tokenizer from `tokenizer.ggml.*`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.file(data, size, name: "model.gguf")
    Fuzz.expectCleanErrors {
        let file = try GGUFFile(path: path)
        for t in file.tensors where t.byteCount <= 1 << 20 { _ = try file.tensor(t.name).floats() }
        Fuzz.expectCleanErrors {
            let config = try ModelConfig.gguf(file)
            let weights = try GGUFWeights(file: file, family: config.family)
            for name in weights.tensorNames { _ = try weights.tensor(name) }
        }
        Fuzz.expectCleanErrors {
            guard let tokens = file["tokenizer.ggml.tokens"]?.strings, let model = file["tokenizer.ggml.model"]?.string else { return }
            let vocabulary = try TokenizerVocabulary(
                ggufModel: model, architecture: file["general.architecture"]?.string, pre: file["tokenizer.ggml.pre"]?.string,
                tokens: tokens, scores: file["tokenizer.ggml.scores"]?.floats,
                tokenTypes: file["tokenizer.ggml.token_type"]?.ints?.map { Int32(clamping: $0) },
                merges: file["tokenizer.ggml.merges"]?.strings,
                bosID: try file.optionalInt("tokenizer.ggml.bos_token_id"), eosID: try file.optionalInt("tokenizer.ggml.eos_token_id"),
                unknownID: try file.optionalInt("tokenizer.ggml.unknown_token_id"),
                paddingID: try file.optionalInt("tokenizer.ggml.padding_token_id"),
                addBOS: file["tokenizer.ggml.add_bos_token"]?.bool, addEOS: nil, addSpacePrefix: nil, source: path)
            let tokenizer = try Tokenizer(vocabulary: vocabulary)
            let ids = tokenizer.encode("Hello, world — ünïcödé\n\t 123")
            _ = tokenizer.decode(ids)
        }
    }
    return 0
}
