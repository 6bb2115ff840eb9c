import CKernels

// T tokens, H heads, N qk_nope_head_dim, P qk_rope_head_dim, R kv_lora_rank (latent), V v_head_dim

/// MLA's absorbed attention (`Device.absorbedLatentAttention`) as ONE job on the worker pool with a head
/// per item: W_UK,h folded into the head's queries, attention over the latent cache, W_UV,h applied to the
/// result — where the composed form runs three jobs (two grouped matmuls and the attention) and copies
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
        let blockWeights = absorbedK.allSatisfy { Self.isBlockMatrix($0.blocks, rows: r, cols: n) }
            && absorbedV.allSatisfy { Self.isBlockMatrix($0.blocks, rows: v, cols: r) }
        guard blockWeights else { return nil }
        precondition(shape.keyDim <= cache.width, "absorbedLatentAttention: shape mismatch")
        let (slots, positions, rowSlots) = Self.visibleSlots(sequences, cache: cache, rows: t)
        let (int8, isa) = (activations == .int8, self.isa)
        // Head-major queries (row h·T + i: token i's head h), as the grouped form reads them.
        var headMajor = [Float](repeating: 0, count: t * h * n)
        for hd in 0..<h { for i in 0..<t { for j in 0..<n { headMajor[(hd * t + i) * n + j] = qNope.data[i * h * n + hd * n + j] } } }
        let queries = BlockActivations(Matrix(rows: h * t, cols: n, data: headMajor), int8: int8, sums: isa == Int32(CK_ISA_PORTABLE))
        let maxVisible = (positions.max() ?? 0) + 1
        let base = UnsafePointer(cache.buffers[layer].baseAddress!)
        var out = [Float](repeating: 0, count: t * h * v)
        out.withUnsafeMutableBufferPointer { op in
            let ob = op.baseAddress!
            queries.withPointers { qp in
                slots.withUnsafeBufferPointer { sp in
                    Parallel.forEach(h, minChunk: 1, chunksPerWorker: (h + 1) / 2) { heads in   // one head per pool item
                        var latentQ = [Float](repeating: 0, count: t * (r + p)), latentO = [Float](repeating: 0, count: t * r)
                        var scores = [Float](repeating: 0, count: maxVisible), y = [Float](repeating: 0, count: t * v)
                        for hd in heads {
                            let wk = absorbedK[hd].blocks!, wv = absorbedV[hd].blocks!
                            // The attention kernel adds into its output: every head starts from zeros.
                            for i in latentO.indices { latentO[i] = 0 }
                            // q_latent = q_nope,h · W_UK,h for the head's T rows, into the first R of each [R + P] query.
                            latentQ.withUnsafeMutableBufferPointer { lq in
                                wk.bytes.withUnsafeBufferPointer { wp in
                                    qp.run(isa: isa, blocks: wk, weights: wp.baseAddress!, rows: 0..<r, start: hd * t, count: t, y: lq.baseAddress!, n: r + p)
                                }
                                for i in 0..<t { for j in 0..<p { lq[i * (r + p) + r + j] = qRope.data[i * h * p + hd * p + j] } }
                                latentO.withUnsafeMutableBufferPointer { lo in
                                    scores.withUnsafeMutableBufferPointer { scratch in
                                        for i in 0..<t {
                                            ck_attend_kv(isa, lq.baseAddress! + i * (r + p), base, cache.width, r + p, base, cache.width, r,
                                                         sp.baseAddress.map { $0 + rowSlots[i] }, positions[i] + 1, shape.scale,
                                                         scratch.baseAddress!, lo.baseAddress! + i * r)
                                        }
                                    }
                                }
                            }
                            // o_h = W_UV,h · o_latent, the head's V columns of each token's output row.
                            let o = BlockActivations(Matrix(rows: t, cols: r, data: latentO), int8: int8, sums: isa == Int32(CK_ISA_PORTABLE))
                            o.withPointers { opts in
                                wv.bytes.withUnsafeBufferPointer { wp in
                                    y.withUnsafeMutableBufferPointer { yp in
                                        opts.run(isa: isa, blocks: wv, weights: wp.baseAddress!, rows: 0..<v, start: 0, count: t, y: yp.baseAddress!, n: v)
                                    }
                                }
                            }
                            for i in 0..<t { for j in 0..<v { ob[i * h * v + hd * v + j] = y[i * v + j] } }
                        }
                    }
                }
            }
        }
        return Matrix(rows: t, cols: h * v, data: out)
    }

    private static func isBlockMatrix(_ blocks: QuantisedBlocks?, rows: Int, cols: Int) -> Bool {
        guard let blocks else { return false }
        return blocks.rows == rows && blocks.cols == cols && blocks.dtype.blockSize == 32
    }

    /// The slots of every visible position per sequence (each sequence's list in turn), each row's
    /// position, and where its sequence's list starts.
    static func visibleSlots(_ sequences: [PagedSequence], cache: KVBlockStorage, rows: Int) -> (slots: [Int64], positions: [Int], rowSlots: [Int]) {
        precondition(sequences.reduce(0) { $0 + $1.rows.count } == rows, "latent attention: the sequences must cover the \(rows) query rows")
        var slots: [Int64] = [], positions = [Int](repeating: 0, count: rows), rowSlots = [Int](repeating: 0, count: rows)
        for seq in sequences {
            precondition(seq.rows.upperBound <= rows, "latent attention: sequence rows \(seq.rows) outside the \(rows) queries")
            let start = slots.count
            for p in 0..<((seq.positions.max() ?? -1) + 1) { slots.append(Int64(cache.slot(position: p, blockTable: seq.blockTable))) }
            for (i, r) in seq.rows.enumerated() { (positions[r], rowSlots[r]) = (seq.positions[i], start) }
        }
        return (slots, positions, rowSlots)
    }
}
