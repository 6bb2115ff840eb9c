import Foundation

/// The portable reference path: the plainest correct loop for every op, in fp32 with sequential
/// accumulation. Fast kernels and other executors are tested against these.
public enum ReferenceKernels {
    /// y = x · Wᵀ — x: [T, K], W: [N, K]
    public static func matmul(_ x: Matrix, _ w: DeviceWeight) -> Matrix {
        let k = x.cols, n = w.rows
        let wv = w.values   // fp32 (quantised weights dequantise with the reference dequantiser)
        var y = Matrix(zeros: x.rows, n)
        for t in 0..<x.rows {
            for r in 0..<n {
                var s: Float = 0
                for j in 0..<k { s += x.data[t * k + j] * wv[r * k + j] }
                y.data[t * n + r] = s
            }
        }
        return y
    }

    /// y = x · rsqrt(mean(x²) + ε) · w
    public static func rmsNorm(_ x: Matrix, weight: [Float], eps: Float) -> Matrix {
        var y = x
        for t in 0..<x.rows {
            var ss: Float = 0
            for j in 0..<x.cols { ss += x.data[t * x.cols + j] * x.data[t * x.cols + j] }
            let scale = 1 / (ss / Float(x.cols) + eps).squareRoot()
            for j in 0..<x.cols { y.data[t * x.cols + j] = x.data[t * x.cols + j] * scale * weight[j] }
        }
        return y
    }

    /// Rotation angle of pair i at position p: p · θ^(−2i/D).
    public static func ropeAngle(position: Int, pair: Int, headDim: Int, theta: Float) -> Float {
        let invFreq = 1 / Foundation.pow(Double(theta), Double(2 * pair) / Double(headDim))
        return Float(Double(position) * invFreq)
    }

    public static func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], theta: Float, style: RoPEStyle) {
        let half = headDim / 2
        for t in 0..<x.rows {
            for h in 0..<heads {
                let base = t * x.cols + h * headDim
                for i in 0..<half {
                    let a = ropeAngle(position: positions[t], pair: i, headDim: headDim, theta: theta)
                    let (c, s) = (Foundation.cos(a), Foundation.sin(a))
                    let (i0, i1) = style == .interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                    let (x0, x1) = (x.data[i0], x.data[i1])
                    x.data[i0] = x0 * c - x1 * s
                    x.data[i1] = x0 * s + x1 * c
                }
            }
        }
    }

    /// silu(g) = g · σ(g)
    public static func siluMul(gate: Matrix, up: Matrix) -> Matrix {
        var y = gate
        for i in 0..<y.data.count {
            let g = gate.data[i]
            y.data[i] = g / (1 + Foundation.exp(-g)) * up.data[i]
        }
        return y
    }

    public static func writeCache(_ cache: KVBlockStorage, layer: Int, slots: [Int], values: Matrix, offset: Int) {
        values.data.withUnsafeBufferPointer { src in
            for (t, slot) in slots.enumerated() {
                cache.store(UnsafeBufferPointer(rebasing: src[(t * values.cols)..<((t + 1) * values.cols)]), layer: layer, slot: slot, offset: offset)
            }
        }
    }

    public static func pagedAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: AttentionShape
    ) -> Matrix {
        let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
        var out = Matrix(zeros: q.rows, h * d)
        for t in 0..<q.rows {
            let visible = positions[t] + 1
            for head in 0..<h {
                let kvHead = head / (h / g)
                var scores = [Float](repeating: 0, count: visible)
                for s in 0..<visible {
                    let e = cache.entry(layer: layer, slot: cache.slot(position: s, blockTable: blockTable))
                    var dot: Float = 0
                    for j in 0..<d { dot += q.data[t * h * d + head * d + j] * e[kvHead * d + j] }
                    scores[s] = dot * shape.scale
                }
                let m = scores.max() ?? 0
                var total: Float = 0
                for s in 0..<visible { scores[s] = Foundation.exp(scores[s] - m); total += scores[s] }
                for s in 0..<visible {
                    let e = cache.entry(layer: layer, slot: cache.slot(position: s, blockTable: blockTable))
                    let p = scores[s] / total
                    for j in 0..<d { out.data[t * h * d + head * d + j] += p * e[g * d + kvHead * d + j] }
                }
            }
        }
        return out
    }
}
