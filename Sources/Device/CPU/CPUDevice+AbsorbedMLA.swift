import CKernels

// T tokens, H heads, N qk_nope_head_dim, P qk_rope_head_dim, R kv_lora_rank (latent), V v_head_dim

/// MLA's absorbed attention (`Device.absorbedLatentAttention`) as ONE job on the worker pool with a run of
/// heads per item: W_UK,h folded into each head's queries, attention over the latent cache, W_UV,h applied
/// to the result — where the composed form runs three jobs (two grouped matmuls and the attention) and copies
/// the queries and outputs between token-major and head-major layouts in between. Each step is the same
/// kernel call on the same values as in the composed form, so the results are bit for bit the same.
extension CPUDevice {
    public func absorbedLatentAttention(qNope: Matrix, qRope: Matrix, absorbedK: [DeviceWeight], absorbedV: [DeviceWeight],
                                        cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix? {
        let (h, r, t) = (shape.heads, shape.valueDim, qNope.rows)
        let p = shape.keyDim - r
        guard h > 0, t > 0, absorbedK.count == h, absorbedV.count == h, qNope.cols % h == 0, qRope.cols == h * p, qRope.rows == t,
              let v = absorbedV[0].blocks?.rows else { return nil }
        let n = qNope.cols / h
        // int8 activations multiply tiles: weights without them (made outside a device) take the composed path.
        let tiled = int8Activations
        let blockWeights = absorbedK.allSatisfy { Self.isBlockMatrix($0.blocks, rows: r, cols: n, tiled: tiled) }
            && absorbedV.allSatisfy { Self.isBlockMatrix($0.blocks, rows: v, cols: r, tiled: tiled) }
        guard blockWeights else { return nil }
        precondition(shape.keyDim <= cache.width, "absorbedLatentAttention: shape mismatch")
        precondition(cache.fieldWidth == cache.width, "absorbedLatentAttention: latent entries are one field")
        let visible = visibleSlotsCache.resolve(sequences, cache: cache, rows: t).visible
        let (slots, positions, rowSlots) = (visible.slots, visible.positions, visible.rowSlots)
        let (int8, isa) = (int8Activations, self.isa)
        // Head-major queries (row h·T + i: token i's head h), as the grouped form reads them.
        let headMajor = Matrix(rows: h * t, cols: n) { hm in
            qNope.data.withUnsafeBufferPointer { q in
                for hd in 0..<h { for i in 0..<t { (hm + (hd * t + i) * n).update(from: q.baseAddress! + i * h * n + hd * n, count: n) } }
            }
        }
        let queries = BlockActivations(headMajor, int8: int8, isa: isa)
        var out = Matrix(pooledZeros: t, h * v)
        out.withUnsafeMutableElements { op in
            queries.withPointers { qp in
                slots.withUnsafeBufferPointer { sp in
                    var job = AbsorbedHeads(qRope: qRope, absorbedK: absorbedK, absorbedV: absorbedV, cache: cache,
                                            base: UnsafeRawPointer(cache.fieldBase(layer: layer, column: 0)), slots: sp.baseAddress,
                                            positions: positions, rowSlots: rowSlots, shape: shape, tokens: t, valueRows: v,
                                            visible: (positions.max() ?? 0) + 1, int8: int8, isa: isa, queries: qp, out: op.baseAddress!)
                    // One run of heads per worker: the heads share every latent-cache read.
                    Parallel.forEach(h, minChunk: 1, chunksPerWorker: 1, context: &job) { job, heads in
                        job.assumingMemoryBound(to: AbsorbedHeads.self).pointee.run(heads: heads)
                    }
                }
            }
        }
        return out
    }

    private static func isBlockMatrix(_ blocks: QuantisedBlocks?, rows: Int, cols: Int, tiled: Bool) -> Bool {
        guard let blocks else { return false }
        return blocks.rows == rows && blocks.cols == cols && blocks.dtype.blockSize == 32 && (!tiled || blocks.tiles != nil)
    }
}

/// A run of heads of `CPUDevice.absorbedLatentAttention`: the context every pool item reads, and the three
/// steps (fold each head's W_UK into its queries, attend over the latent cache, apply each head's W_UV).
/// The heads attend together, with consecutive tokens of a sequence (`ck_attend_block`): each
/// block of latent-cache entries is read from L2/L3 once for all of them instead of once per head — at long
/// contexts that cache, not the weights, is most of a decode step's memory traffic. Bit for bit the
/// per-head kernel's result.
private struct AbsorbedHeads {
    let qRope: Matrix
    let absorbedK, absorbedV: [DeviceWeight]
    let cache: KVBlockStorage
    /// The layer's latent cache (elements of `cache.element`).
    let base: UnsafeRawPointer
    let slots: UnsafePointer<Int64>?
    let positions, rowSlots: [Int]
    let shape: LatentAttentionShape
    let tokens, valueRows: Int
    /// Positions the furthest row sees (the scores' length).
    let visible: Int
    let int8: Bool
    let isa: Int32
    let queries: BlockActivations.Pointers
    let out: UnsafeMutablePointer<Float>

    /// A pool item's buffers come from its thread's pool (`ArrayPool.withScratch`): latent queries
    /// [head][token][R + P] (every element written), latent outputs [head][token][R] (zeroed: the attention
    /// kernel adds into them), scores, and one head's output rows [token][V].
    func run(heads: Range<Int>) {
        let (t, r) = (tokens, shape.valueDim)
        let kd = shape.keyDim, pool = ArrayPools.current
        let scoreCount = ck_attend_block_scores(CPUDevice.attentionRunTokens(rowsPerToken: heads.count), heads.count, visible)
        pool.withFloatScratch(count: heads.count * t * kd) { lq in
            pool.withFloatScratch(count: heads.count * t * r) { lo in
                lo.update(repeating: 0, count: heads.count * t * r)
                pool.withFloatScratch(count: scoreCount) { scores in
                    pool.withFloatScratch(count: t * valueRows) { y in
                        attend(heads: heads, latentQ: lq, latentO: lo, scores: scores)
                        project(heads: heads, latentO: lo, y: y)
                    }
                }
            }
        }
    }

    /// Folds each head's W_UK into its queries and attends over the latent cache into `latentO`.
    private func attend(heads: Range<Int>, latentQ lq: UnsafeMutablePointer<Float>, latentO lo: UnsafeMutablePointer<Float>,
                        scores: UnsafeMutablePointer<Float>) {
        let (t, h, r) = (tokens, shape.heads, shape.valueDim)
        let p = shape.keyDim - r, kd = r + p
        qRope.data.withUnsafeBufferPointer { rope in
            for (k, hd) in heads.enumerated() {
                // q_latent = q_nope,h · W_UK,h for the head's T rows, into the first R of each [R + P] query.
                let q = lq + k * t * kd
                queries.run(isa: isa, weight: .init(absorbedK[hd].blocks!), rows: 0..<r, start: hd * t, count: t, y: q, n: kd)
                for i in 0..<t { (q + i * kd + r).update(from: rope.baseAddress! + i * h * p + hd * p, count: p) }
            }
        }
        for run in CPUDevice.tokenRuns(positions: positions, rowSlots: rowSlots, maxTokens: CPUDevice.attentionRunTokens(rowsPerToken: heads.count)) {
            ck_attend_block(isa, cache.element.code, run.count, heads.count, lq + run.start * kd, kd, t * kd,
                            base, cache.width, kd, base, cache.width, r, slots.map { $0 + rowSlots[run.start] },
                            positions[run.start] + 1, shape.scale, scores, lo + run.start * r, r, t * r)
        }
    }

    /// o_h = W_UV,h · o_latent, each head's V columns of every token's output row.
    private func project(heads: Range<Int>, latentO lo: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let (t, h, r, v) = (tokens, shape.heads, shape.valueDim, valueRows)
        for (k, hd) in heads.enumerated() {
            let latent = Matrix(rows: t, cols: r) { $0.update(from: lo + k * t * r, count: t * r) }
            let o = BlockActivations(latent, int8: int8, isa: isa)
            o.withPointers { opts in opts.run(isa: isa, weight: .init(absorbedV[hd].blocks!), rows: 0..<v, start: 0, count: t, y: y, n: v) }
            for i in 0..<t { (out + i * h * v + hd * v).update(from: y + i * v, count: v) }
        }
    }
}
