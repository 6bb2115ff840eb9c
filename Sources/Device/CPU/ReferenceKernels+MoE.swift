import Foundation

/// Reference loops for the ops the Hugging Face families and MoE layers add (formulas on `Device`).
extension ReferenceKernels {
    public static func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle) {
        let half = headDim / 2
        precondition(table.inverseFrequencies.count == half, "rope: table has \(table.inverseFrequencies.count) frequencies for head dim \(headDim)")
        for t in 0..<x.rows {
            for h in 0..<heads {
                let base = t * x.cols + h * headDim
                for i in 0..<half {
                    let a = Float(positions[t]) * table.inverseFrequencies[i]
                    let (c, s) = (Foundation.cos(a) * table.attentionFactor, Foundation.sin(a) * table.attentionFactor)
                    let (i0, i1) = style == .interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                    let (x0, x1) = (x.data[i0], x.data[i1])
                    x.data[i0] = x0 * c - x1 * s
                    x.data[i1] = x0 * s + x1 * c
                }
            }
        }
    }

    public static func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        precondition(weights.count == groupSizes.count && groupSizes.reduce(0, +) == x.rows, "groupedMatmul: groups do not cover the rows")
        let n = weights.first?.rows ?? 0
        var y = Matrix(zeros: x.rows, n)
        var start = 0
        for (g, size) in groupSizes.enumerated() where size > 0 {
            let part = matmul(x.rows(start..<(start + size)), weights[g])
            y.data.replaceSubrange((start * n)..<((start + size) * n), with: part.data)
            start += size
        }
        return y
    }

    public static func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float]) {
        for (i, t) in tokens.enumerated() {
            for j in 0..<y.cols { y.data[t * y.cols + j] += weights[i] * rows.data[i * rows.cols + j] }
        }
    }

    public static func addBias(_ x: inout Matrix, _ bias: DeviceWeight) {
        let b = bias.values
        for t in 0..<x.rows {
            for j in 0..<x.cols { x.data[t * x.cols + j] += b[j] }
        }
    }

    /// Row-wise softmax (max subtracted), in a matrix from the thread's pool (the CPU device's router scores).
    public static func softmax(_ x: Matrix) -> Matrix {
        let cols = x.cols
        return Matrix(rows: x.rows, cols: cols) { y in
            x.data.withUnsafeBufferPointer { xp in
                for t in 0..<x.rows {
                    let row = UnsafeBufferPointer(rebasing: xp[(t * cols)..<((t + 1) * cols)])
                    let m = row.max() ?? 0
                    var total: Float = 0
                    for j in 0..<cols { total += Foundation.exp(row[j] - m) }
                    for j in 0..<cols { y[t * cols + j] = Foundation.exp(row[j] - m) / total }
                }
            }
        }
    }

    /// Element-wise 1 / (1 + e^−x), in a matrix from the thread's pool.
    public static func sigmoid(_ x: Matrix) -> Matrix {
        Matrix(rows: x.rows, cols: x.cols) { y in
            x.data.withUnsafeBufferPointer { xp in for i in xp.indices { y[i] = 1 / (1 + Foundation.exp(-xp[i])) } }
        }
    }

    public static func readCache(_ cache: KVBlockStorage, layer: Int, slots: [Int]) -> Matrix {
        Matrix(rows: slots.count, cols: cache.width) { out in
            for (i, slot) in slots.enumerated() { cache.read(layer: layer, slot: slot, into: out + i * cache.width) }
        }
    }

    public static func causalAttention(q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape: LatentAttentionShape) -> Matrix {
        let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
        var out = Matrix(zeros: q.rows, h * dv)
        for t in 0..<q.rows {
            for head in 0..<h {
                let p = attentionWeights(count: positions[t] + 1, scale: shape.scale) { s in
                    (0..<dk).reduce(Float(0)) { $0 + q.data[t * h * dk + head * dk + $1] * k.data[s * h * dk + head * dk + $1] }
                }
                for (s, w) in p.enumerated() {
                    for j in 0..<dv { out.data[t * h * dv + head * dv + j] += w * v.data[s * h * dv + head * dv + j] }
                }
            }
        }
        return out
    }

    public static func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix {
        let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
        var out = Matrix(zeros: q.rows, h * dv)
        for t in 0..<q.rows {
            for head in 0..<h {
                let p = attentionWeights(count: positions[t] + 1, scale: shape.scale) { s in
                    let e = cache.entry(layer: layer, slot: cache.slot(position: s, blockTable: blockTable))
                    return (0..<dk).reduce(Float(0)) { $0 + q.data[t * h * dk + head * dk + $1] * e[$1] }
                }
                for (s, w) in p.enumerated() {
                    let e = cache.entry(layer: layer, slot: cache.slot(position: s, blockTable: blockTable))
                    for j in 0..<dv { out.data[t * h * dv + head * dv + j] += w * e[j] }
                }
            }
        }
        return out
    }

    /// softmax over s of scale · dot(s), s in 0..<count
    static func attentionWeights(count: Int, scale: Float, dot: (Int) -> Float) -> [Float] {
        let scores = (0..<count).map { dot($0) * scale }
        let m = scores.max() ?? 0
        let e = scores.map { Foundation.exp($0 - m) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }
}

