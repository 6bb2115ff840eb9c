import Device

/// Runs one sequence through a model without an engine: its own cache storage and a block table
/// that grows in order. For tools, reference tests and benchmarks.
public final class SequenceRunner {
    public let model: any LanguageModel
    public let cache: KVBlockStorage
    public private(set) var length = 0
    private var blockTable: [Int] = []

    public init(model: any LanguageModel, capacity: Int, blockSize: Int = 16) {
        self.model = model
        let blocks = max(1, (min(capacity, model.contextLength) + blockSize - 1) / blockSize)
        cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: blocks, blockSize: blockSize,
                                           width: model.cacheLayout.width, fieldWidth: model.cacheLayout.fieldWidth)
    }

    /// Runs `tokens` after what ran before and returns their logits.
    public func run(_ tokens: [Int], logits: LogitRows = .last) -> Matrix {
        let end = length + tokens.count
        precondition(end <= cache.blockCount * cache.blockSize, "SequenceRunner capacity exceeded")
        while blockTable.count * cache.blockSize < end { blockTable.append(blockTable.count) }
        let chunk = SequenceChunk(tokens: tokens, startPosition: length, blockTable: blockTable, logits: logits)
        length = end
        return model.forward(ForwardBatch([chunk]), cache: cache)
    }
}
