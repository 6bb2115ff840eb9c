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
        var headMajor = [Float](repeating: 0, count: t * h * n)
        for hd in 0..<h { for i in 0..<t { for j in 0..<n { headMajor[(hd * t + i) * n + j] = qNope.data[i * h * n + hd * n + j] } } }
        let queries = BlockActivations(Matrix(rows: h * t, cols: n, data: headMajor), int8: int8, isa: isa)
        let maxVisible = (positions.max() ?? 0) + 1
        var out = [Float](repeating: 0, count: t * h * v)
        out.withUnsafeMutableBufferPointer { op in
            queries.withPointers { qp in
                slots.withUnsafeBufferPointer { sp in
                    let job = AbsorbedHeads(qRope: qRope, absorbedK: absorbedK, absorbedV: absorbedV, cache: cache,
                                            base: UnsafeRawPointer(cache.fieldBase(layer: layer, column: 0)), slots: sp.baseAddress,
                                            positions: positions, rowSlots: rowSlots, shape: shape, tokens: t, valueRows: v,
                                            int8: int8, isa: isa, queries: qp, out: op.baseAddress!)
                    // One run of heads per worker: the heads share every latent-cache read.
                    Parallel.forEach(h, minChunk: 1, chunksPerWorker: 1) { heads in
                        var scratch = AbsorbedHeads.Scratch(heads: heads.count, tokens: t, latent: shape.keyDim, valueDim: r, values: v,
                                                            visible: maxVisible)
                        job.run(heads: heads, scratch: &scratch)
                    }
                }
            }
        }
        return Matrix(rows: t, cols: h * v, data: out)
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
    let int8: Bool
    let isa: Int32
    let queries: BlockActivations.Pointers
    let out: UnsafeMutablePointer<Float>

    /// A pool item's buffers: latent queries [head][token][R + P] and outputs [head][token][R] of its heads.
    struct Scratch {
        var latentQ, latentO, scores, y: [Float]
        init(heads: Int, tokens t: Int, latent: Int, valueDim r: Int, values v: Int, visible: Int) {
            latentQ = [Float](repeating: 0, count: heads * t * latent)
            latentO = [Float](repeating: 0, count: heads * t * r)   // the attention kernel adds into it
            scores = [Float](repeating: 0, count: ck_attend_block_scores(CPUDevice.attentionRunTokens(rowsPerToken: heads), heads, visible))
            y = [Float](repeating: 0, count: t * v)
        }
    }

    func run(heads: Range<Int>, scratch: inout Scratch) {
        let (t, h, r, v) = (tokens, shape.heads, shape.valueDim, valueRows)
        let p = shape.keyDim - r, kd = r + p
        scratch.latentQ.withUnsafeMutableBufferPointer { lq in
            for (k, hd) in heads.enumerated() {
                // q_latent = q_nope,h · W_UK,h for the head's T rows, into the first R of each [R + P] query.
                let q = lq.baseAddress! + k * t * kd
                queries.run(isa: isa, weight: .init(absorbedK[hd].blocks!), rows: 0..<r, start: hd * t, count: t, y: q, n: kd)
                for i in 0..<t { for j in 0..<p { q[i * kd + r + j] = qRope.data[i * h * p + hd * p + j] } }
            }
            scratch.latentO.withUnsafeMutableBufferPointer { lo in
                scratch.scores.withUnsafeMutableBufferPointer { sc in
                    for run in CPUDevice.tokenRuns(positions: positions, rowSlots: rowSlots, maxTokens: CPUDevice.attentionRunTokens(rowsPerToken: heads.count)) {
                        ck_attend_block(isa, cache.element.code, run.count, heads.count, lq.baseAddress! + run.start * kd, kd, t * kd,
                                        base, cache.width, kd, base, cache.width, r, slots.map { $0 + rowSlots[run.start] },
                                        positions[run.start] + 1, shape.scale, sc.baseAddress!, lo.baseAddress! + run.start * r, r, t * r)
                    }
                }
            }
        }
        for (k, hd) in heads.enumerated() {
            // o_h = W_UV,h · o_latent, the head's V columns of each token's output row.
            let o = BlockActivations(Matrix(rows: t, cols: r, data: Array(scratch.latentO[(k * t * r)..<((k + 1) * t * r)])), int8: int8, isa: isa)
            o.withPointers { opts in
                scratch.y.withUnsafeMutableBufferPointer { yp in
                    opts.run(isa: isa, weight: .init(absorbedV[hd].blocks!), rows: 0..<v, start: 0, count: t, y: yp.baseAddress!, n: v)
                }
            }
            for i in 0..<t { for j in 0..<v { out[i * h * v + hd * v + j] = scratch.y[i * v + j] } }
        }
    }
}
