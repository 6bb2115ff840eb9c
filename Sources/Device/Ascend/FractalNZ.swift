/// The fractal NZ layout the cube reads weights in (CANN `FRACTAL_NZ`): a row-major `[rows, cols]`
/// matrix is cut into fractals of 16 rows × `c0` columns (c0 = 32 bytes ÷ element size: 16 for
/// fp16/bf16, 32 for int8, so one fractal row is 32 B and a fractal 512 B), rows padded to a multiple of
/// 16 and columns to a multiple of c0 with zeros. The fractals are stored column-block-major ("N"), each
/// fractal row-major inside ("Z"):
///
///     nz[((j / c0) · rowsPadded + i) · c0 + j % c0] = a[i, j]      shape [cols/c0, rowsPadded, c0]
///
/// so one column block of all rows is contiguous, and so are the 16 × c0 elements of each fractal.
public struct FractalNZ: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    /// Columns per fractal (16 for 16-bit elements, 32 for 8-bit).
    public let c0: Int

    public static let fractalRows = 16

    public init(rows: Int, cols: Int, c0: Int) {
        precondition(rows >= 0 && cols >= 0 && c0 > 0, "FractalNZ: bad shape [\(rows), \(cols)] c0 \(c0)")
        self.rows = rows
        self.cols = cols
        self.c0 = c0
    }

    /// c0 for an element of `bytes` bytes: one 32-byte fractal row.
    public static func c0(elementBytes bytes: Int) -> Int { 32 / bytes }

    public var rowsPadded: Int { (rows + Self.fractalRows - 1) / Self.fractalRows * Self.fractalRows }
    public var colBlocks: Int { (cols + c0 - 1) / c0 }
    public var colsPadded: Int { colBlocks * c0 }
    /// Elements stored, padding included.
    public var count: Int { colBlocks * rowsPadded * c0 }

    /// Index in the NZ buffer of element (i, j) of the logical matrix.
    @inline(__always)
    public func offset(row i: Int, col j: Int) -> Int { ((j / c0) * rowsPadded + i) * c0 + j % c0 }

    /// Row-major `a` ([rows, cols]) into NZ order, padding with `zero`.
    @_specialize(where T == Float)
    @_specialize(where T == Int8)
    public func pack<T>(_ a: [T], zero: T) -> [T] {
        precondition(a.count == rows * cols, "FractalNZ.pack: \(a.count) elements for [\(rows), \(cols)]")
        var nz = [T](repeating: zero, count: count)
        let rp = rowsPadded, (cols, c0) = (self.cols, self.c0)
        a.withUnsafeBufferPointer { src in
            nz.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    for b in 0..<colBlocks {
                        let j0 = b * c0, d = (b * rp + i) * c0
                        for j in 0..<min(c0, cols - j0) { dst[d + j] = src[i * cols + j0 + j] }
                    }
                }
            }
        }
        return nz
    }

    /// NZ order back to row-major `[rows, cols]` (padding dropped).
    @_specialize(where T == Float)
    @_specialize(where T == Int8)
    public func unpack<T>(_ nz: [T]) -> [T] {
        precondition(nz.count == count, "FractalNZ.unpack: \(nz.count) elements, layout holds \(count)")
        guard rows * cols > 0 else { return [] }
        var a = [T](repeating: nz[0], count: rows * cols)
        let rp = rowsPadded, (cols, c0) = (self.cols, self.c0)
        nz.withUnsafeBufferPointer { src in
            a.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    for b in 0..<colBlocks {
                        let j0 = b * c0, s = (b * rp + i) * c0
                        for j in 0..<min(c0, cols - j0) { dst[i * cols + j0 + j] = src[s + j] }
                    }
                }
            }
        }
        return a
    }
}
