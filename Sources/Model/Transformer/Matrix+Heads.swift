import Device

/// Host-side reshapes of activations, per attention head. A matrix `[T, H·W]` holds H heads of W
/// columns each, side by side.
extension Matrix {
    /// Columns `range` of every head: `[T, H·W]` → `[T, H·range.count]`.
    func headColumns(heads: Int, range: Range<Int>) -> Matrix {
        let w = cols / heads
        var out: [Float] = []
        out.reserveCapacity(rows * heads * range.count)
        for t in 0..<rows {
            for h in 0..<heads {
                let start: Int = t * cols + h * w
                out += data[(start + range.lowerBound)..<(start + range.upperBound)]
            }
        }
        return Matrix(rows: rows, cols: heads * range.count, data: out)
    }

    /// Joins parts head by head: `.perHead` parts are `[T, H·Wᵢ]`, `.shared` parts `[T, Wᵢ]` go to every
    /// head; the result is `[T, H·ΣWᵢ]`.
    init(joiningHeads parts: [HeadPart], heads: Int) {
        let rows = parts[0].matrix.rows
        let widths = parts.map { $0.width(heads: heads) }
        var out: [Float] = []
        out.reserveCapacity(rows * heads * widths.reduce(0, +))
        for t in 0..<rows {
            for h in 0..<heads {
                for (part, w) in zip(parts, widths) {
                    let m = part.matrix
                    let start = t * m.cols + (part.isShared ? 0 : h * w)
                    out += m.data[start..<(start + w)]
                }
            }
        }
        self.init(rows: rows, cols: heads * widths.reduce(0, +), data: out)
    }

    /// Head-major copy for grouped per-head matmuls: `[T, H·W]` → `[H·T, W]` (head 0's rows first).
    func headMajor(heads: Int) -> Matrix {
        let w = cols / heads
        var out: [Float] = []
        out.reserveCapacity(data.count)
        for h in 0..<heads {
            for t in 0..<rows {
                let start: Int = t * cols + h * w
                out += data[start..<(start + w)]
            }
        }
        return Matrix(rows: heads * rows, cols: w, data: out)
    }

    /// Inverse of `headMajor`: `[H·T, W]` → `[T, H·W]`.
    func tokenMajor(heads: Int) -> Matrix {
        let t = rows / heads
        var out = [Float](repeating: 0, count: data.count)
        for h in 0..<heads {
            for r in 0..<t {
                let (dst, src): (Int, Int) = ((r * heads + h) * cols, (h * t + r) * cols)
                out.replaceSubrange(dst..<(dst + cols), with: data[src..<(src + cols)])
            }
        }
        return Matrix(rows: t, cols: heads * cols, data: out)
    }

    /// Columns `range` of every row.
    func columns(_ range: Range<Int>) -> Matrix { headColumns(heads: 1, range: range) }

    /// Rows picked by index, in the order given.
    func gatherRows(_ indices: [Int]) -> Matrix {
        var out: [Float] = []
        out.reserveCapacity(indices.count * cols)
        for i in indices { out += data[(i * cols)..<((i + 1) * cols)] }
        return Matrix(rows: indices.count, cols: cols, data: out)
    }

    /// The same matrix viewed with a different row width (row-major data is unchanged).
    func reshaped(cols newCols: Int) -> Matrix { Matrix(rows: data.count / newCols, cols: newCols, data: data) }
}

/// One input of `Matrix(joiningHeads:)`.
enum HeadPart {
    case perHead(Matrix)
    case shared(Matrix)

    var matrix: Matrix {
        switch self {
        case let .perHead(m), let .shared(m): return m
        }
    }

    var isShared: Bool {
        if case .shared = self { return true }
        return false
    }

    func width(heads: Int) -> Int { isShared ? matrix.cols : matrix.cols / heads }
}
