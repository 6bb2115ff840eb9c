import Foundation

/// CPU kernels for the MoE and latent-attention ops; the reference loops are in ReferenceKernels+MoE.swift.
extension CPUDevice {
    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle) {
        precondition(table.inverseFrequencies.count == headDim / 2, "rope: table has \(table.inverseFrequencies.count) frequencies for head dim \(headDim)")
        Self.rotate(&x, heads: heads, headDim: headDim, positions: positions, style: style) { position, pair in
            let a = Float(position) * table.inverseFrequencies[pair]
            return (Foundation.cos(a) * table.attentionFactor, Foundation.sin(a) * table.attentionFactor)
        }
    }

    /// One matmul (quantised or SIMD fp32, as `matmul` picks) per non-empty group, each spread over the cores by weight rows.
    public func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        precondition(weights.count == groupSizes.count && groupSizes.reduce(0, +) == x.rows, "groupedMatmul: groups do not cover the rows")
        let n = weights.first?.rows ?? 0
        var y = [Float](repeating: 0, count: x.rows * n)
        var start = 0
        for (g, size) in groupSizes.enumerated() where size > 0 {
            let part = matmul(x.rowSlice(start..<(start + size)), weights[g])   // [size, N]
            y.replaceSubrange((start * n)..<((start + size) * n), with: part.data)
            start += size
        }
        return Matrix(rows: x.rows, cols: n, data: y)
    }

    public func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float]) {
        precondition(rows.cols == y.cols && rows.rows == tokens.count && tokens.count == weights.count, "scatterAdd: shape mismatch")
        let k = y.cols
        y.data.withUnsafeMutableBufferPointer { yp in
            rows.data.withUnsafeBufferPointer { rp in
                for (i, t) in tokens.enumerated() {
                    let w = weights[i]
                    for j in 0..<k { yp[t * k + j] += w * rp[i * k + j] }
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
        return k.data.withUnsafeBufferPointer { kp in
            v.data.withUnsafeBufferPointer { vp in
                attend(q: q, shape: shape, positions: positions,
                       key: { s, head in kp.baseAddress! + s * h * dk + head * dk },
                       value: { s, head in vp.baseAddress! + s * h * dv + head * dv })
            }
        }
    }

    public func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix {
        precondition(shape.keyDim <= cache.width && shape.valueDim <= shape.keyDim, "pagedLatentAttention: shape mismatch")
        let maxVisible = (positions.max() ?? 0) + 1
        let slots = (0..<maxVisible).map { cache.slot(position: $0, blockTable: blockTable) }
        let base = cache.buffers[layer].baseAddress!
        let width = cache.width
        // One shared KV head: keys are whole entries, values their first R floats.
        return attend(q: q, shape: shape, positions: positions,
                      key: { s, _ in UnsafePointer(base + slots[s] * width) },
                      value: { s, _ in UnsafePointer(base + slots[s] * width) })
    }

    /// Softmax attention of every (token, head) over keys 0...positions[t], one work item each.
    private func attend(
        q: Matrix, shape: LatentAttentionShape, positions: [Int],
        key: (Int, Int) -> UnsafePointer<Float>, value: (Int, Int) -> UnsafePointer<Float>
    ) -> Matrix {
        let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
        let rows = q.rows
        let maxVisible = (positions.max() ?? 0) + 1
        var out = [Float](repeating: 0, count: rows * h * dv)
        q.data.withUnsafeBufferPointer { qp in
            out.withUnsafeMutableBufferPointer { op in
                let qb = qp.baseAddress!, ob = op.baseAddress!
                withoutActuallyEscaping(key) { key in
                    withoutActuallyEscaping(value) { value in
                        Parallel.forEach(rows * h, minChunk: 4) { range in
                            var scores = [Float](repeating: 0, count: maxVisible)
                            for item in range {
                                let (t, head) = (item / h, item % h)
                                let qrow = qb + t * h * dk + head * dk
                                let visible = positions[t] + 1
                                var m = -Float.infinity
                                for s in 0..<visible {
                                    scores[s] = SIMDKernels.dot(qrow, key(s, head), dk) * shape.scale
                                    m = max(m, scores[s])
                                }
                                var total: Float = 0
                                for s in 0..<visible { scores[s] = Foundation.exp(scores[s] - m); total += scores[s] }
                                let orow = ob + t * h * dv + head * dv
                                let inv = 1 / total
                                for s in 0..<visible {
                                    let p = scores[s] * inv, vrow = value(s, head)
                                    for j in 0..<dv { orow[j] += p * vrow[j] }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: rows, cols: h * dv, data: out)
    }
}
