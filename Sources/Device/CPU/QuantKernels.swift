import CKernels

/// Matmul over weights kept in GGUF block formats (`QuantisedBlocks`): fp32 activations times weights
/// dequantised on the fly inside the C kernels (CKernels/QuantMatmul.c), 4–6× fewer weight bytes
/// read than fp32. Parity with `ReferenceKernels.matmul` on the dequantised weight is tested.
///
/// NOTE: dequantise-on-the-fly keeps activations in fp32, so logits match the fp32 reference up to
/// summation order; int8 activations (VNNI) are the next step where prefill is compute-bound.
enum QuantKernels {
    /// The kernel variant for this CPU: AVX2+FMA where present, otherwise the portable C loops.
    static func isa(for features: CPUFeatures) -> Int32 {
        features.avx2 && features.fma ? Int32(CK_ISA_AVX2) : Int32(CK_ISA_PORTABLE)
    }

    /// y[t, n] = Σ_k x[t, k]·W[n, k] — x: [T, K], W: [N, K] as blocks, y: [T, N]. Rows of W are split
    /// across threads; each (row, token) is reduced in a fixed order, so results are batch-invariant.
    static func matmul(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        let t = x.rows, k = x.cols, n = w.rows
        precondition(w.cols == k, "matmul: x has \(k) columns, weight has \(w.cols)")
        let blocksPerRow = k / w.dtype.blockSize
        var sums = [Float](repeating: 0, count: t * blocksPerRow)   // [T, K/32] activation block sums
        var y = [Float](repeating: 0, count: t * n)
        let dtype = Int32(w.dtype.rawValue), rowBytes = w.rowBytes
        x.data.withUnsafeBufferPointer { xp in
            sums.withUnsafeMutableBufferPointer { ck_block_sums(xp.baseAddress!, t * blocksPerRow, $0.baseAddress!) }
            sums.withUnsafeBufferPointer { sp in
                w.bytes.withUnsafeBufferPointer { wp in
                    y.withUnsafeMutableBufferPointer { yp in
                        let xb = xp.baseAddress!, sb = sp.baseAddress!, wb = wp.baseAddress!, yb = yp.baseAddress!
                        Parallel.forEach(n, minChunk: 64) { range in
                            ck_matmul_blocks(isa, dtype, wb, rowBytes, range.lowerBound, range.upperBound, xb, sb, t, k, yb, n)
                        }
                    }
                }
            }
        }
        return Matrix(rows: t, cols: n, data: y)
    }
}
