import Foundation

/// Reference loops for the sparse-attention ops of DeepSeek-V3.2 and V4 (formulas on `Device`).
extension ReferenceKernels {
    public static func selectedAttention(q: Matrix, entries: Matrix, keys: [[Int]], sinks: [Float]?, shape: LatentAttentionShape) -> Matrix {
        let (h, dk, dv) = (shape.heads, shape.keyDim, shape.valueDim)
        precondition(q.cols == h * dk && keys.count == q.rows && entries.cols >= max(dk, dv), "selectedAttention: shape mismatch")
        precondition(sinks == nil || sinks!.count == h, "selectedAttention: one sink per head")
        var out = Matrix(zeros: q.rows, h * dv)
        for t in 0..<q.rows {
            for head in 0..<h {
                var scores = keys[t].map { s in
                    (0..<dk).reduce(Float(0)) { $0 + q.data[t * h * dk + head * dk + $1] * entries.data[s * entries.cols + $1] } * shape.scale
                }
                if let sinks { scores.append(sinks[head]) }
                let m = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                for (i, s) in keys[t].enumerated() {
                    let w = e[i] / total
                    for j in 0..<dv { out.data[t * h * dv + head * dv + j] += w * entries.data[s * entries.cols + j] }
                }
            }
        }
        return out
    }

    public static func indexScores(q: Matrix, headWeights: Matrix, keys: Matrix, visible: [Int], scale: Float) -> [[Float]] {
        let heads = headWeights.cols
        let d = keys.cols
        precondition(q.cols == heads * d && headWeights.rows == q.rows && visible.count == q.rows, "indexScores: shape mismatch")
        return (0..<q.rows).map { t in
            (0..<visible[t]).map { s in
                var total: Float = 0
                for h in 0..<heads {
                    var dot: Float = 0
                    for j in 0..<d { dot += q.data[t * q.cols + h * d + j] * keys.data[s * d + j] }
                    total += max(dot, 0) * scale * headWeights.data[t * heads + h]
                }
                return total
            }
        }
    }
}
