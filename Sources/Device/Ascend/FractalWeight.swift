/// A 2-D weight `[N, K]` as the simulated NPU holds it: converted at upload to the fractal NZ layout
/// (`FractalNZ`) in the precision's weight format — 16-bit values rounded to bf16/fp16 (kept as fp32
/// holding exactly those values), or int8 with one fp32 scale per output channel (row).
///
/// The matmul reads the NZ buffer fractal by fractal, as the cube does: activations are rounded to the
/// activation type (or quantised per token to int8), each 16-row block of W is multiplied against one
/// c0-wide column block at a time, and the products accumulate in fp32 (int32 for int8, then
/// `· x_scale[t] · w_scale[n]`), per (token, output) in a fixed order, so results are batch-invariant.
public final class FractalWeight: Sendable {
    public let layout: FractalNZ
    public let precision: AscendPrecision
    /// bf16/fp16: rounded values in NZ order.
    let halves: [Float]
    /// w8a8: int8 values in NZ order and per-row scales.
    let int8: [Int8]
    let scales: [Float]

    /// Converts row-major fp32 `values` of `[rows, cols]`.
    public init(rows: Int, cols: Int, values: [Float], precision: AscendPrecision) {
        self.precision = precision
        if precision == .w8a8 {
            let q = Int8Rows(rows: rows, cols: cols, values)
            layout = FractalNZ(rows: rows, cols: cols, c0: FractalNZ.c0(elementBytes: 1))
            int8 = layout.pack(q.values, zero: 0)
            scales = q.scales
            halves = []
        } else {
            layout = FractalNZ(rows: rows, cols: cols, c0: FractalNZ.c0(elementBytes: 2))
            halves = layout.pack(values.map(precision.round), zero: 0)
            int8 = []
            scales = []
        }
    }

    /// Bytes on the device: padded fractals at the element size, plus fp32 scales.
    public var deviceBytes: Int {
        layout.count * Int(precision.weightType.bytes) + 4 * scales.count
    }

    /// The stored weight back in row-major fp32 (dequantised for int8).
    public func rowMajor() -> [Float] {
        if precision != .w8a8 { return layout.unpack(halves) }
        let q = layout.unpack(int8), cols = layout.cols
        return q.indices.map { Float(q[$0]) * scales[$0 / cols] }
    }

    /// Row r (one output channel) in fp32.
    public func copyRow(_ r: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        for j in 0..<layout.cols {
            let o = layout.offset(row: r, col: j)
            dst[j] = precision == .w8a8 ? Float(int8[o]) * scales[r] : halves[o]
        }
    }

    /// y = x · Wᵀ — x: [T, K] fp32, y: [T, N] fp32.
    public func matmul(_ x: Matrix) -> Matrix {
        precondition(x.cols == layout.cols, "matmul: x has \(x.cols) columns, weight has \(layout.cols)")
        return precision == .w8a8 ? matmulInt8(x) : matmul16(x)
    }

    /// 16-bit path: c0 = 16, one SIMD16 per fractal row; 16 fp32 accumulators per 16-row block.
    private func matmul16(_ x: Matrix) -> Matrix {
        let t = x.rows, n = layout.rows, kp = layout.colsPadded, rp = layout.rowsPadded, blocks = layout.colBlocks
        var xr = [Float](repeating: 0, count: t * kp)   // [T, Kpad] rounded, zero-padded
        for r in 0..<t {
            for j in 0..<x.cols { xr[r * kp + j] = precision.round(x.data[r * x.cols + j]) }
        }
        var y = [Float](repeating: 0, count: t * n)
        xr.withUnsafeBufferPointer { xp in
            halves.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    let xb = UnsafeRawPointer(xp.baseAddress!), wb = UnsafeRawPointer(wp.baseAddress!), yb = yp.baseAddress!
                    Parallel.forEach(rp / 16, minChunk: 4) { range in
                        var acc = [SIMD16<Float>](repeating: .zero, count: 16)
                        for nb in range {
                            for tok in 0..<t {
                                for r in 0..<16 { acc[r] = .zero }
                                for b in 0..<blocks {
                                    let xv = xb.loadUnaligned(fromByteOffset: 4 * (tok * kp + b * 16), as: SIMD16<Float>.self)
                                    let fractal = 4 * ((b * rp + nb * 16) * 16)
                                    for r in 0..<16 {
                                        acc[r] += xv * wb.loadUnaligned(fromByteOffset: fractal + 64 * r, as: SIMD16<Float>.self)
                                    }
                                }
                                for r in 0..<16 where nb * 16 + r < n { yb[tok * n + nb * 16 + r] = acc[r].sum() }
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: t, cols: n, data: y)
    }

    /// int8 path: c0 = 32; activations quantised per token; int32 sums scaled back to fp32.
    private func matmulInt8(_ x: Matrix) -> Matrix {
        let t = x.rows, n = layout.rows, kp = layout.colsPadded, rp = layout.rowsPadded, blocks = layout.colBlocks
        let xq = Int8Rows(rows: t, cols: x.cols, x.data)
        var xpad = [Int32](repeating: 0, count: t * kp)   // [T, Kpad] int8 values widened
        for r in 0..<t {
            for j in 0..<x.cols { xpad[r * kp + j] = Int32(xq.values[r * x.cols + j]) }
        }
        var y = [Float](repeating: 0, count: t * n)
        xpad.withUnsafeBufferPointer { xp in
            int8.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    let xb = xp.baseAddress!, wb = wp.baseAddress!, yb = yp.baseAddress!
                    Parallel.forEach(n, minChunk: 16) { range in
                        for row in range {
                            for tok in 0..<t {
                                var acc: Int32 = 0
                                for b in 0..<blocks {
                                    let w = wb + (b * rp + row) * 32, xv = xb + tok * kp + b * 32
                                    for j in 0..<32 { acc &+= xv[j] &* Int32(w[j]) }
                                }
                                yb[tok * n + row] = Float(acc) * xq.scales[tok] * scales[row]
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: t, cols: n, data: y)
    }
}
