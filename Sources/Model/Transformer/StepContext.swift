import Device

/// What every layer of one step needs about the batch: each token's position and cache slot, and
/// which rows belong to which sequence. Built once per forward pass.
struct StepContext {
    let batch: ForwardBatch
    let cache: KVBlockStorage
    let positions: [Int]        // [T]
    let slots: [Int]            // [T]
    let rowRanges: [Range<Int>]
    /// Each sequence's rows, block table and positions, for batched paged attention (built once per step:
    /// every layer's attention reads the same list, and building it per layer cost 1 + S allocations each).
    let pagedSequences: [PagedSequence]

    init(batch: ForwardBatch, cache: KVBlockStorage) {
        self.batch = batch
        self.cache = cache
        positions = batch.chunks.flatMap { Array($0.positions) }
        slots = batch.chunks.flatMap { ch in ch.positions.map { cache.slot(position: $0, blockTable: ch.blockTable) } }
        var start = 0
        rowRanges = batch.chunks.map { ch in
            defer { start += ch.tokens.count }
            return start..<(start + ch.tokens.count)
        }
        pagedSequences = zip(rowRanges, batch.chunks).map { PagedSequence(rows: $0, blockTable: $1.blockTable, positions: Array($1.positions)) }
    }

    /// Runs `body` on each sequence's rows (attention reads that sequence's cache) and stacks the results.
    func perSequence(_ x: Matrix, _ body: (Matrix, SequenceChunk) -> Matrix) -> Matrix {
        if batch.chunks.count == 1 { return body(x, batch.chunks[0]) }
        let parts = zip(rowRanges, batch.chunks).map { range, chunk in body(x.rows(range), chunk) }
        return Matrix(stacking: parts, cols: parts.first?.cols ?? 0)
    }

    /// The hidden rows whose logits the batch asked for, in chunk order.
    func logitRows(_ x: Matrix) -> Matrix {
        let parts = zip(rowRanges, batch.chunks).compactMap { range, chunk -> Matrix? in
            switch chunk.logits {
            case .none: return nil
            case .last: return x.rows((range.upperBound - 1)..<range.upperBound)
            case .all: return x.rows(range)
            }
        }
        return Matrix(stacking: parts, cols: x.cols)
    }
}
