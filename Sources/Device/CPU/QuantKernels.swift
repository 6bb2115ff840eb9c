import CKernels

/// Matmul over weights kept in GGUF block formats (`QuantisedBlocks`): fp32 activations times weights
/// dequantised on the fly inside the C kernels (CKernels/QuantMatmul.c), 4–6× fewer weight bytes
/// read than fp32. Parity with `ReferenceKernels.matmul` on the dequantised weight is tested.
///
/// Two activation precisions: `matmul` keeps activations in fp32 (logits match the fp32 reference up
/// to summation order); `matmulInt8` quantises them per block of 32 to int8 and multiplies in
/// integers, as llama.cpp does — several times fewer instructions per weight, at the cost of
/// activation rounding (measured in the parity tests).
enum QuantKernels {
    /// The kernel variant for this CPU: AVX2+FMA(+F16C) where present, otherwise the portable C loops.
    static func isa(for features: CPUFeatures) -> Int32 {
        features.avx2 && features.fma && features.f16c ? Int32(CK_ISA_AVX2) : Int32(CK_ISA_PORTABLE)
    }

    /// y = x·Wᵀ with x quantised to int8 per 32-block (ck_quantize_q8) and integer block products.
    /// Each (row, token) is reduced in one fixed order on every ISA and tile, so it is batch-invariant
    /// and the AVX2 result equals the portable one bit for bit.
    static func matmulInt8(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        let t = x.rows, k = x.cols, n = w.rows
        precondition(w.cols == k, "matmul: x has \(k) columns, weight has \(w.cols)")
        let nb = k / w.dtype.blockSize
        var q = [Int8](repeating: 0, count: t * k)
        var d = [Float](repeating: 0, count: t * nb), s = [Float](repeating: 0, count: t * nb)
        var y = [Float](repeating: 0, count: t * n)
        let dtype = Int32(w.dtype.rawValue), rowBytes = w.rowBytes
        x.data.withUnsafeBufferPointer { xp in
            ck_quantize_q8(xp.baseAddress!, t, k, &q, &d, &s)
        }
        q.withUnsafeBufferPointer { qp in
            d.withUnsafeBufferPointer { dp in
                s.withUnsafeBufferPointer { sp in
                    w.bytes.withUnsafeBufferPointer { wp in
                        y.withUnsafeMutableBufferPointer { yp in
                            let qb = qp.baseAddress!, db = dp.baseAddress!, sb = sp.baseAddress!
                            let wb = wp.baseAddress!, yb = yp.baseAddress!
                            Parallel.forEach(n, minChunk: 64) { range in
                                ck_matmul_q8(isa, dtype, wb, rowBytes, range.lowerBound, range.upperBound, qb, db, sb, t, k, yb, n)
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: t, cols: n, data: y)
    }

    /// y[t, n] = Σ_k x[t, k]·W[n, k] — x: [T, K], W: [N, K] as blocks, y: [T, N]. Rows of W are split
    /// across threads; each (row, token) is reduced in a fixed order, so results are batch-invariant.
    static func matmul(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        let t = x.rows, k = x.cols, n = w.rows
        precondition(w.cols == k, "matmul: x has \(k) columns, weight has \(w.cols)")
        let blocksPerRow = k / w.dtype.blockSize
        // [T, K/32] activation block sums for the Q4 minima; only the portable loops read them (the AVX2
        // kernel folds the minima into its dequantised weights).
        let needsSums = isa == Int32(CK_ISA_PORTABLE)
        var sums = [Float](repeating: 0, count: needsSums ? t * blocksPerRow : 1)
        var y = [Float](repeating: 0, count: t * n)
        let dtype = Int32(w.dtype.rawValue), rowBytes = w.rowBytes
        x.data.withUnsafeBufferPointer { xp in
            if needsSums { sums.withUnsafeMutableBufferPointer { ck_block_sums(xp.baseAddress!, t * blocksPerRow, $0.baseAddress!) } }
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
