import Foundation

/// The (cos, sin) of every (row, pair) of one rope call: row t's pair i at [t · pairs + i].
struct RoPEAngles {
    let pairs: Int
    let cos, sin: [Float]

    init(positions: [Int], pairs: Int, angle: (_ position: Int, _ pair: Int) -> (cos: Float, sin: Float)) {
        self.pairs = pairs
        // From the thread's pool: the cache below keeps a step's angles until the next step's replace them.
        var sines: [Float] = []
        cos = ArrayPools.current.takeFloats(count: positions.count * pairs) { c in
            sines = ArrayPools.current.takeFloats(count: positions.count * pairs) { s in   // both in one pass
                for (t, position) in positions.enumerated() { for i in 0..<pairs { (c[t * pairs + i], s[t * pairs + i]) = angle(position, i) } }
            }
        }
        sin = sines
    }

    /// A frequency table's angles: cos(p · f) · factor, sin(p · f) · factor.
    init(table: RoPETable, positions: [Int]) {
        self.init(positions: positions, pairs: table.inverseFrequencies.count) { position, pair in
            let a = Float(position) * table.inverseFrequencies[pair]
            return (Foundation.cos(a) * table.attentionFactor, Foundation.sin(a) * table.attentionFactor)
        }
    }
}

/// The angles of the last few (table, positions) a device rotated by. Every layer of a step rotates its
/// q and k at the step's positions, so a step computes its cos and sin once instead of twice per layer
/// (SmolLM2, 16 sequences: 60 calls). The cached values are the ones `RoPEAngles(table:positions:)`
/// computes, so a hit changes no bit.
final class RoPEAngleCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(table: RoPETable, positions: [Int], angles: RoPEAngles)] = []
    /// Two: the models with two tables (DeepSeek-V4's compressed and plain layers) alternate them.
    private static let capacity = 2

    func angles(table: RoPETable, positions: [Int]) -> RoPEAngles {
        if let hit = lock.withLock({ entries.first { $0.positions == positions && $0.table == table }?.angles }) { return hit }
        let angles = RoPEAngles(table: table, positions: positions)
        lock.withLock {
            entries.insert((table, positions, angles), at: 0)
            if entries.count > Self.capacity { entries.removeLast() }
        }
        return angles
    }
}

extension CPUDevice {
    /// Rotates each head's pairs of every row t by the angles of row t. Pairs are (2i, 2i+1) when
    /// interleaved, (i, i + half) otherwise; one loop per style over contiguous cos/sin, which the
    /// compiler vectorises (the products and sums are the same fp32 operations as the reference's).
    static func rotate(_ x: inout Matrix, heads: Int, headDim: Int, angles: RoPEAngles, style: RoPEStyle) {
        let half = headDim / 2, cols = x.cols, rowCount = x.rows
        precondition(angles.pairs == half && angles.cos.count == x.rows * half, "rope: \(angles.cos.count / max(1, half)) angle rows for \(x.rows) rows")
        x.withUnsafeMutableElements { xb in
            angles.cos.withUnsafeBufferPointer { cb in
                angles.sin.withUnsafeBufferPointer { sb in
                    let (xp, cp, sp) = (xb.baseAddress!, cb.baseAddress!, sb.baseAddress!)
                    forEachRows(rowCount, cols: cols) { rows in
                        for t in rows {
                            let (c, s) = (cp + t * half, sp + t * half)
                            for h in 0..<heads {
                                let p = xp + t * cols + h * headDim
                                if style == .interleaved {
                                    for i in 0..<half {
                                        let (x0, x1) = (p[2 * i], p[2 * i + 1])
                                        p[2 * i] = x0 * c[i] - x1 * s[i]
                                        p[2 * i + 1] = x0 * s[i] + x1 * c[i]
                                    }
                                } else {
                                    for i in 0..<half {
                                        let (x0, x1) = (p[i], p[i + half])
                                        p[i] = x0 * c[i] - x1 * s[i]
                                        p[i + half] = x0 * s[i] + x1 * c[i]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
