import Foundation
import Testing
@testable import Device

extension Matrix {
    /// Columns start..<start+width of every row.
    fileprivate func columns(_ start: Int, width: Int) -> Matrix {
        Matrix(rows: rows, cols: width, data: (0..<rows).flatMap { data[($0 * cols + start)..<($0 * cols + start + width)] })
    }
}

/// The sparse-attention ops (DeepSeek-V3.2 / V4) agree with the dense ops they generalise.
@Suite struct SparseAttentionKernelTests {
    let device = CPUDevice()

    func random(_ n: Int, _ seed: inout UInt64) -> [Float] { CPUKernelParityTests.random(n, seed: &seed) }

    func maxError(_ a: Matrix, _ b: Matrix) -> Float {
        precondition(a.rows == b.rows && a.cols == b.cols)
        return zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }

    /// One shared entry per row broadcast to every head: `[S, W]` → `[S, H·width]`.
    func perHead(_ m: Matrix, heads: Int, width: Int) -> Matrix {
        var out: [Float] = []
        for s in 0..<m.rows { for _ in 0..<heads { out += m.data[(s * m.cols)..<(s * m.cols + width)] } }
        return Matrix(rows: m.rows, cols: heads * width, data: out)
    }

    @Test func allCausalKeysWithoutSinksIsCausalMultiQueryAttention() {
        var seed: UInt64 = 11
        let (t, s, h, dk, dv) = (4, 9, 3, 12, 8)
        let entries = Matrix(rows: s, cols: dk + 2, data: random(s * (dk + 2), &seed))
        let q = Matrix(rows: t, cols: h * dk, data: random(t * h * dk, &seed))
        let positions = [2, 5, 7, 8]
        let shape = LatentAttentionShape(heads: h, keyDim: dk, valueDim: dv, scale: 0.3)
        let sparse = device.selectedAttention(q: q, entries: entries, keys: positions.map { Array(0...$0) }, sinks: nil, shape: shape)
        let dense = device.causalAttention(q: q, k: perHead(entries, heads: h, width: dk), v: perHead(entries, heads: h, width: dv),
                                           positions: positions, shape: shape)
        #expect(maxError(sparse, dense) <= 1e-5)
    }

    @Test func selectedKeysAreAttentionOverJustThoseRows() {
        var seed: UInt64 = 12
        let (h, d) = (2, 6)
        let entries = Matrix(rows: 10, cols: d, data: random(10 * d, &seed))
        let q = Matrix(rows: 1, cols: h * d, data: random(h * d, &seed))
        let picked = [7, 1, 4]
        let shape = LatentAttentionShape(heads: h, keyDim: d, valueDim: d, scale: 0.5)
        let sparse = device.selectedAttention(q: q, entries: entries, keys: [picked], sinks: nil, shape: shape)
        let subset = Matrix(rows: 3, cols: d, data: picked.flatMap { entries.row($0) })
        let dense = device.causalAttention(q: q, k: perHead(subset, heads: h, width: d), v: perHead(subset, heads: h, width: d),
                                           positions: [2], shape: shape)
        #expect(maxError(sparse, dense) <= 1e-5)
    }

    @Test func aSinkTakesItsShareOfTheSoftmaxAndAddsNoValue() {
        var seed: UInt64 = 13
        let (h, d) = (2, 4)
        let entries = Matrix(rows: 3, cols: d, data: random(3 * d, &seed))
        let q = Matrix(rows: 1, cols: h * d, data: random(h * d, &seed))
        let sinks: [Float] = [0.7, -1.3]
        let shape = LatentAttentionShape(heads: h, keyDim: d, valueDim: d, scale: 0.5)
        // One key: p = σ(score − sink), o = p · entry.
        let o = device.selectedAttention(q: q, entries: entries, keys: [[2]], sinks: sinks, shape: shape)
        for head in 0..<h {
            var dot: Float = 0
            for j in 0..<d { dot += q.data[head * d + j] * entries.data[2 * d + j] }
            let score = dot * shape.scale
            let p = 1 / (1 + Foundation.exp(sinks[head] - score))
            for j in 0..<d { #expect(abs(o.data[head * d + j] - p * entries.data[2 * d + j]) <= 1e-6) }
        }
        // A sink of −∞ is no sink at all.
        let none = device.selectedAttention(q: q, entries: entries, keys: [[0, 1, 2]], sinks: nil, shape: shape)
        let minusInfinity = device.selectedAttention(q: q, entries: entries, keys: [[0, 1, 2]], sinks: [-.infinity, -.infinity], shape: shape)
        #expect(none == minusInfinity)
    }

    @Test func indexScoresAreWeightedReLUOfPerHeadMatmuls() {
        var seed: UInt64 = 14
        let (t, s, h, d) = (3, 7, 4, 8)
        let q = Matrix(rows: t, cols: h * d, data: random(t * h * d, &seed))
        let w = Matrix(rows: t, cols: h, data: random(t * h, &seed))
        let keys = Matrix(rows: s, cols: d, data: random(s * d, &seed))
        let visible = [7, 3, 5]
        let scores = device.indexScores(q: q, headWeights: w, keys: keys, visible: visible, scale: 0.25)
        let keyWeight = DeviceWeight(shape: [s, d], sourceType: .f32, values: keys.data)
        let dots: [Matrix] = (0..<h).map { head in
            device.matmul(q.columns(head * d, width: d), keyWeight)                      // [t, s]
        }
        for r in 0..<t {
            #expect(scores[r].count == visible[r])
            for c in 0..<visible[r] {
                var expected: Float = 0
                for head in 0..<h {
                    let dot: Float = dots[head].data[r * s + c]
                    expected += w.data[r * h + head] * 0.25 * max(dot, 0)
                }
                #expect(abs(scores[r][c] - expected) <= 1e-5)
            }
        }
    }
}
