import Foundation
import LanternCore
@testable import Tokenizers

/// tokenizer.json: parsed as a model directory's tokenizer is (against a 4096-token model), then
/// used to encode and decode a fixed text with special tokens, bytes outside the vocabulary and
/// whitespace runs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    Fuzz.expectCleanErrors {
        let vocabulary = try TokenizerVocabulary(hubTokenizerJSON: bytes, config: nil, source: "tokenizer.json", vocabularyLimit: 4096)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let ids = tokenizer.encode("<bos>Hello,  world!\n\tüñî 🙂 <eos> 12345")
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(ids, skipSpecial: true)
    }
    return 0
}
