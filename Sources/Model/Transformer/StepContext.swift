import Device

/// What every layer of one step needs about the batch: each token's position and cache slot, and
/// which rows belong to which sequence. Built once per forward pass.
struct StepContext {
    let batch: ForwardBatch
    let cache: KVBlockStorage
    let tokens: [Int]           // [T], every chunk's tokens in turn
    let positions: [Int]        // [T]
    let slots: [Int]            // [T]
    /// Each sequence's rows, block table and positions, for batched paged attention (built once per step:
    /// every layer's attention reads the same list, and building it per layer cost 1 + S allocations each).
    let pagedSequences: [PagedSequence]
    var rowRanges: some Collection<Range<Int>> { pagedSequences.lazy.map(\.rows) }

    /// Every list from the thread's pools (`ArrayPools`), assigned in one pass (`flatMap` and a positions
    /// array per sequence had cost ~67 allocations per step at 16 sequences).
    init(batch: ForwardBatch, cache: KVBlockStorage) {
        self.batch = batch
        self.cache = cache
        let total = batch.chunks.reduce(0) { $0 + $1.tokens.count }
        let pools = ArrayPools.current
        tokens = pools.takeInts(count: total) { out in
            var at = 0
            for ch in batch.chunks { for t in ch.tokens { out[at] = t; at += 1 } }
        }
        positions = pools.takeInts(count: total) { out in
            var at = 0
            for ch in batch.chunks { for p in ch.positions { out[at] = p; at += 1 } }
        }
        slots = pools.takeInts(count: total) { out in
            var at = 0
            for ch in batch.chunks { for p in ch.positions { out[at] = cache.slot(position: p, blockTable: ch.blockTable); at += 1 } }
        }
        pagedSequences = pools.takeSequences(count: batch.chunks.count) { out in
            var start = 0
            for (i, ch) in batch.chunks.enumerated() {
                out[i] = PagedSequence(rows: start..<(start + ch.tokens.count), blockTable: ch.blockTable, firstPosition: ch.startPosition)
                start += ch.tokens.count
            }
        }
    }

    /// Runs `body` on each sequence's rows (attention reads that sequence's cache) and stacks the results.
    func perSequence(_ x: Matrix, _ body: (Matrix, SequenceChunk) -> Matrix) -> Matrix {
        if batch.chunks.count == 1 { return body(x, batch.chunks[0]) }
        let parts = zip(rowRanges, batch.chunks).map { range, chunk in body(x.rows(range), chunk) }
        return Matrix(stacking: parts, cols: parts.first?.cols ?? 0)
    }

    /// The hidden rows whose logits the batch asked for, in chunk order (one matrix, no list of parts).
    func logitRows(_ x: Matrix) -> Matrix {
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: max(1, batch.chunks.count)) { picked in
            var n = 0
            for (range, chunk) in zip(rowRanges, batch.chunks) {
                let rows: Range<Int>
                switch chunk.logits {
                case .none: continue
                case .last: rows = (range.upperBound - 1)..<range.upperBound
                case .all: rows = range
                }
                (picked.baseAddress! + n).initialize(to: rows)
                n += 1
            }
            return x.rows(in: UnsafeBufferPointer(start: picked.baseAddress, count: n))
        }
    }
}
