import Device
import Foundation

/// RoPE on a slice of each head (DeepSeek-V4 rotates the trailing P channels, V3.2's indexer the
/// leading P) and the small per-row helpers the V4 blocks share.
struct PartialRoPE: Sendable {
    let table: RoPETable
    let style: RoPEStyle
    /// Channels of each head that rotate.
    let channels: Range<Int>

    /// Rotates `channels` of every head of x ([T, heads·D]) by each row's position.
    func apply(_ x: inout Matrix, heads: Int, positions: [Int], device: any Device) {
        var part = x.headColumns(heads: heads, range: channels)                    // [T, heads·P]
        device.rope(&part, heads: heads, headDim: channels.count, positions: positions, table: table, style: style)
        x.setHeadColumns(heads: heads, range: channels, from: part)
    }

    /// The inverse rotation (V4 de-rotates the attention output at the query's position).
    func unapply(_ x: inout Matrix, heads: Int, positions: [Int], device: any Device) {
        apply(&x, heads: heads, positions: positions.map { -$0 }, device: device)
    }
}

extension Matrix {
    /// Overwrites columns `range` of every head with `part` ([T, heads·range.count]).
    mutating func setHeadColumns(heads: Int, range: Range<Int>, from part: Matrix) {
        let w = cols / heads
        for t in 0..<rows {
            for h in 0..<heads {
                for (j, c) in range.enumerated() { data[t * cols + h * w + c] = part.data[t * part.cols + h * range.count + j] }
            }
        }
    }

    /// x · rsqrt(mean(x²) + ε) over each `width`-wide group of every row (no weight): V4's q_b_norm
    /// per head and the hyper-connections' input norm over all streams.
    func unitRMSNormed(width: Int, eps: Float) -> Matrix {
        var y = self
        for g in 0..<(data.count / width) {
            var ss: Float = 0
            for j in 0..<width { ss += data[g * width + j] * data[g * width + j] }
            let scale = 1 / (ss / Float(width) + eps).squareRoot()
            for j in 0..<width { y.data[g * width + j] = data[g * width + j] * scale }
        }
        return y
    }

    /// Rows of several matrices of equal width, in order (empty parts allowed).
    init(concatenating parts: [Matrix], cols: Int) {
        self.init(rows: parts.reduce(0) { $0 + $1.rows }, cols: cols, data: parts.flatMap(\.data))
    }
}
