import CKernels
import Foundation

/// CPU kernels for the MoE and latent-attention ops; the reference loops are in ReferenceKernels+MoE.swift.
extension CPUDevice {
    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle) {
        precondition(table.inverseFrequencies.count == headDim / 2, "rope: table has \(table.inverseFrequencies.count) frequencies for head dim \(headDim)")
        Self.rotate(&x, heads: heads, headDim: headDim, angles: ropeAngles.angles(table: table, positions: positions), style: style)
    }

    public func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float]) {
        precondition(rows.cols == y.cols && rows.rows == tokens.count && tokens.count == weights.count, "scatterAdd: shape mismatch")
        let k = y.cols
        y.withUnsafeMutableElements { yp in
            rows.data.withUnsafeBufferPointer { rp in
                for (i, t) in tokens.enumerated() {
                    let (w, out, row) = (weights[i], yp.baseAddress! + t * k, rp.baseAddress! + i * k)
                    for j in 0..<k { out[j] += w * row[j] }   // plain pointers: a vector loop
                }
            }
        }
    }

    public func addBias(_ x: inout Matrix, _ bias: DeviceWeight) {
        precondition(bias.values.count == x.cols, "addBias: bias has \(bias.values.count) values, x has \(x.cols) columns")
        ReferenceKernels.addBias(&x, bias)
    }

    public func softmax(_ x: Matrix) -> Matrix { ReferenceKernels.softmax(x) }

    public func sigmoid(_ x: Matrix) -> Matrix { ReferenceKernels.sigmoid(x) }

    public func readCache(_ cache: KVBlockStorage, layer: Int, slots: [Int]) -> Matrix {
        ReferenceKernels.readCache(cache, layer: layer, slots: slots)
    }

    public func causalAttention(q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape: LatentAttentionShape) -> Matrix {
        let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
        precondition(q.cols == h * dk && k.cols == h * dk && v.cols == h * dv && k.rows == v.rows, "causalAttention: shape mismatch")
        precondition((positions.max() ?? -1) < k.rows, "causalAttention: a position has no key")
        return k.data.withUnsafeBufferPointer { kp in
            v.data.withUnsafeBufferPointer { vp in
                // Head h's key s at k[s, h·dk], its value at v[s, h·dv].
                attend(q: q, shape: shape, positions: positions, slots: nil, rowSlots: nil,
                       keys: KeyValueLayout(base: UnsafeRawPointer(kp.baseAddress!), element: .f32, stride: h * dk, headOffset: dk),
                       values: KeyValueLayout(base: UnsafeRawPointer(vp.baseAddress!), element: .f32, stride: h * dv, headOffset: dv))
            }
        }
    }

    public func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix {
        pagedLatentAttention(q: q, cache: cache, layer: layer,
                             sequences: [PagedSequence(rows: 0..<q.rows, blockTable: blockTable, positions: positions)], shape: shape)
    }

    /// Every sequence's (token, head) rows in one parallel pass; each row runs the same kernel call as alone.
    public func pagedLatentAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix {
        precondition(shape.keyDim <= cache.width && shape.valueDim <= shape.keyDim, "pagedLatentAttention: shape mismatch")
        precondition(cache.fieldWidth == cache.width, "pagedLatentAttention: latent entries are one field")
        let visible = visibleSlotsCache.resolve(sequences, cache: cache, rows: q.rows).visible
        let (slots, positions, rowSlots) = (visible.slots, visible.positions, visible.rowSlots)
        // One shared KV head: keys are whole entries, values their first R elements.
        let entries = KeyValueLayout(base: UnsafeRawPointer(cache.fieldBase(layer: layer, column: 0)), element: cache.element, stride: cache.width, headOffset: 0)
        return slots.withUnsafeBufferPointer { sp in
            attend(q: q, shape: shape, positions: positions, slots: sp.baseAddress, rowSlots: rowSlots, keys: entries, values: entries)
        }
    }

    /// Where key (value) s of head h starts: base + pos(s)·stride + h·headOffset (in elements of `element`).
    private struct KeyValueLayout {
        let base: UnsafeRawPointer
        let element: KVElement
        let stride, headOffset: Int

        func head(_ h: Int) -> UnsafeRawPointer { base + h * headOffset * element.bytes }
    }

    /// Softmax attention of every (token, head) over keys 0...positions[t], one work item per (run of
    /// consecutive tokens, head) (CKernels/AttentionBlock.c, ck_attend_block: the run's rows meet each key
    /// block together, bit-identical to one row at a time); each item writes its own output slices. With
    /// `slots`, row t's keys are at slots[rowSlots[t] + s].
    private func attend(q: Matrix, shape: LatentAttentionShape, positions: [Int], slots: UnsafePointer<Int64>?, rowSlots: [Int]?,
                        keys: KeyValueLayout, values: KeyValueLayout) -> Matrix {
        let (h, dv) = (shape.heads, shape.valueDim)
        let rows = q.rows
        let maxVisible = (positions.max() ?? 0) + 1
        let isa = self.isa
        let runTokens = Self.attentionRunTokens(rowsPerToken: 1)
        let noSlots = rowSlots == nil ? ArrayPools.current.takeInts(count: rows) { $0.update(repeating: 0, count: rows) } : []
        let runs = Self.tokenRuns(positions: positions, rowSlots: rowSlots ?? noSlots, maxTokens: runTokens)
        var out = Matrix(pooledZeros: rows, h * dv)
        q.data.withUnsafeBufferPointer { qp in
            out.withUnsafeMutableElements { op in
                runs.withUnsafeBufferPointer { runList in
                    (rowSlots ?? noSlots).withUnsafeBufferPointer { rowSlotList in
                        positions.withUnsafeBufferPointer { positionList in
                            var job = LatentRunsJob(isa: isa, shape: shape, scratchCount: ck_attend_block_scores(runTokens, 1, maxVisible),
                                                    runs: runList, rowSlots: rowSlotList, positions: positionList, keys: keys, values: values,
                                                    q: qp.baseAddress!, slots: slots, out: op.baseAddress!)
                            Parallel.forEach(runs.count * h, minChunk: 1, chunksPerWorker: 16, context: &job) { job, range in
                                job.assumingMemoryBound(to: LatentRunsJob.self).pointee.attend(range)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// What `attend`'s items read (Parallel.forEach's context: the closure captures nothing). Item (i, head)
    /// is run i of the order 0, N−1, 1, N−2, … (under the causal mask a contiguous chunk then pairs short
    /// runs with long ones, so the chunks cost about the same) with one head.
    private struct LatentRunsJob {
        let isa: Int32
        let shape: LatentAttentionShape
        let scratchCount: Int
        let runs: UnsafeBufferPointer<(start: Int, count: Int)>
        let rowSlots, positions: UnsafeBufferPointer<Int>
        let keys, values: KeyValueLayout
        let q: UnsafePointer<Float>, slots: UnsafePointer<Int64>?, out: UnsafeMutablePointer<Float>

        func attend(_ range: Range<Int>) {
            let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
            ArrayPools.current.withFloatScratch(count: scratchCount) { scratch in   // this worker's pool
                for item in range {
                    let (i, head) = (item / h, item % h)
                    let run = runs[i % 2 == 0 ? i / 2 : runs.count - 1 - i / 2]
                    let t = run.start
                    ck_attend_block(isa, keys.element.code, run.count, 1, q + t * h * dk + head * dk, h * dk, dk,
                                    keys.head(head), keys.stride, dk, values.head(head), values.stride, dv,
                                    slots.map { $0 + rowSlots[t] }, positions[t] + 1, shape.scale, scratch,
                                    out + t * h * dv + head * dv, h * dv, dv)
                }
            }
        }
    }
}
