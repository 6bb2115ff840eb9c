import Device
import Model
@testable import Engine

/// A model with no tensors: the next token is (last token + 1) mod vocab, as one-hot logits.
/// Enough to test scheduling, stop rules and events without real weights.
final class CountingModel: LanguageModel, @unchecked Sendable {
    let vocabularySize: Int
    let contextLength: Int
    let device: any Device = CPUDevice()
    private(set) var forwardCalls = 0

    init(vocab: Int = 50, context: Int = 64) {
        vocabularySize = vocab
        contextLength = context
    }

    func makeCache(capacity: Int) -> KVCache { KVCache(layers: 0, capacity: min(capacity, contextLength), rowWidth: 1) }

    func forward(_ tokens: [Int], cache: inout KVCache, logits: LogitRows) -> Matrix {
        forwardCalls += 1
        cache.advance(by: tokens.count)
        var row = [Float](repeating: 0, count: vocabularySize)
        row[(tokens.last! + 1) % vocabularySize] = 10
        return Matrix(rows: 1, cols: vocabularySize, data: row)
    }
}
