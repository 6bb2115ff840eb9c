import Device

/// Host-side reshapes of activations, per attention head. A matrix `[T, H·W]` holds H heads of W
/// columns each, side by side.
extension Matrix {
    /// Columns `range` of every head: `[T, H·W]` → `[T, H·range.count]`.
    func headColumns(heads: Int, range: Range<Int>) -> Matrix {
        let (w, n) = (cols / heads, range.count)
        return Matrix(rows: rows, cols: heads * n) { out in   // storage from the thread's pool
            data.withUnsafeBufferPointer { src in
                for t in 0..<rows {
                    for h in 0..<heads { (out + (t * heads + h) * n).update(from: src.baseAddress! + t * cols + h * w + range.lowerBound, count: n) }
                }
            }
        }
    }

    /// Joins two parts head by head: a `.perHead` part is `[T, H·W]`, a `.shared` part `[T, W]` goes to every
    /// head; the result is `[T, H·(W₁ + W₂)]`, its storage from the thread's pool. (Two parts is what every
    /// caller joins; a list of parts per call was an allocation.)
    init(joiningHeads first: HeadPart, _ second: HeadPart, heads: Int) {
        let (w1, w2) = (first.width(heads: heads), second.width(heads: heads))
        let (a, b, rows) = (first.matrix, second.matrix, first.matrix.rows)
        precondition(b.rows == rows, "joiningHeads: \(rows) and \(b.rows) rows")
        self.init(rows: rows, cols: heads * (w1 + w2)) { out in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    var o = out
                    for t in 0..<rows {
                        for h in 0..<heads {
                            o.update(from: ap.baseAddress! + t * a.cols + (first.isShared ? 0 : h * w1), count: w1)
                            (o + w1).update(from: bp.baseAddress! + t * b.cols + (second.isShared ? 0 : h * w2), count: w2)
                            o += w1 + w2
                        }
                    }
                }
            }
        }
    }

    /// Head-major copy for grouped per-head matmuls: `[T, H·W]` → `[H·T, W]` (head 0's rows first).
    func headMajor(heads: Int) -> Matrix {
        let w = cols / heads
        return Matrix(rows: heads * rows, cols: w) { out in
            data.withUnsafeBufferPointer { src in
                for h in 0..<heads { for t in 0..<rows { (out + (h * rows + t) * w).update(from: src.baseAddress! + t * cols + h * w, count: w) } }
            }
        }
    }

    /// Inverse of `headMajor`: `[H·T, W]` → `[T, H·W]`.
    func tokenMajor(heads: Int) -> Matrix {
        let t = rows / heads
        return Matrix(rows: t, cols: heads * cols) { out in
            data.withUnsafeBufferPointer { src in
                for h in 0..<heads {
                    for r in 0..<t { (out + (r * heads + h) * cols).update(from: src.baseAddress! + (h * t + r) * cols, count: cols) }
                }
            }
        }
    }

    /// Columns `range` of every row.
    func columns(_ range: Range<Int>) -> Matrix { headColumns(heads: 1, range: range) }

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
