/// Optional capabilities: a device that has no fast kernel for an op runs the reference loop.
extension Device {
    public var separatesGeneratedTokens: Bool { false }

    public func runningGeneratedTokens<T>(_ body: () -> T) -> T { body() }

    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle) {
        ReferenceKernels.rope(&x, heads: heads, headDim: headDim, positions: positions, table: table, style: style)
    }

    public func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        ReferenceKernels.groupedMatmul(x, weights, groupSizes: groupSizes)
    }

    public func groupedMatmuls(_ x: Matrix, _ sets: [[DeviceWeight]], groupSizes: [Int]) -> [Matrix] {
        sets.map { groupedMatmul(x, $0, groupSizes: groupSizes) }
    }

    public func matmuls(_ x: Matrix, _ weights: [DeviceWeight]) -> [Matrix] { weights.map { matmul(x, $0) } }

    public func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float]) {
        ReferenceKernels.scatterAdd(&y, rows: rows, tokens: tokens, weights: weights)
    }

    public func addBias(_ x: inout Matrix, _ bias: DeviceWeight) { ReferenceKernels.addBias(&x, bias) }

    public func softmax(_ x: Matrix) -> Matrix { ReferenceKernels.softmax(x) }

    public func sigmoid(_ x: Matrix) -> Matrix { ReferenceKernels.sigmoid(x) }

    public func readCache(_ cache: KVBlockStorage, layer: Int, slots: [Int]) -> Matrix {
        ReferenceKernels.readCache(cache, layer: layer, slots: slots)
    }

    public func pagedAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: AttentionShape) -> Matrix {
        eachSequence(q, sequences, cols: shape.heads * shape.headDim) { q, seq in
            pagedAttention(q: q, cache: cache, layer: layer, blockTable: seq.blockTable, positions: seq.positions, shape: shape)
        }
    }

    /// `one` run on each sequence's rows of q, the results stacked in order (a single sequence that
    /// covers q runs on q itself, without a copy): the per-sequence defaults of the batched attention ops.
    private func eachSequence(_ q: Matrix, _ sequences: [PagedSequence], cols: Int,
                              _ one: (Matrix, PagedSequence) -> Matrix) -> Matrix {
        if sequences.count == 1, sequences[0].rows == 0..<q.rows { return one(q, sequences[0]) }
        return Matrix(stacking: sequences.map { one(q.rows($0.rows), $0) }, cols: cols)
    }

    public func causalAttention(q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape: LatentAttentionShape) -> Matrix {
        ReferenceKernels.causalAttention(q: q, k: k, v: v, positions: positions, shape: shape)
    }

    public func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix {
        ReferenceKernels.pagedLatentAttention(q: q, cache: cache, layer: layer, blockTable: blockTable, positions: positions, shape: shape)
    }

    public func pagedLatentAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix {
        eachSequence(q, sequences, cols: shape.heads * shape.valueDim) { q, seq in
            pagedLatentAttention(q: q, cache: cache, layer: layer, blockTable: seq.blockTable, positions: seq.positions, shape: shape)
        }
    }

    public func absorbedLatentAttention(qNope: Matrix, qRope: Matrix, absorbedK: [DeviceWeight], absorbedV: [DeviceWeight],
                                        cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix? {
        nil
    }

    public func selectedAttention(q: Matrix, entries: Matrix, keys: [[Int]], sinks: [Float]?, shape: LatentAttentionShape) -> Matrix {
        ReferenceKernels.selectedAttention(q: q, entries: entries, keys: keys, sinks: sinks, shape: shape)
    }

    public func indexScores(q: Matrix, headWeights: Matrix, keys: Matrix, visible: [Int], scale: Float) -> [[Float]] {
        ReferenceKernels.indexScores(q: q, headWeights: headWeights, keys: keys, visible: visible, scale: scale)
    }
}
