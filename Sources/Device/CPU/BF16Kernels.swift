import CKernels

/// Matmul over bf16 weights (`--quantization bf16`): fp32 activations, weights widened to fp32 inside the
/// C kernel (CKernels/MatmulBF16.c), fp32 accumulation — half the weight bytes of fp32 with exact
/// products, so it differs from `ReferenceKernels.matmul` on the same (bf16-valued) weight only by
/// summation order. Parity and batch invariance are tested (BF16KernelTests).
enum BF16Kernels {
    /// AVX2+FMA where present, otherwise the portable loops.
    static func isa(for features: CPUFeatures) -> Int32 {
        features.avx2 && features.fma ? Int32(CK_ISA_AVX2) : Int32(CK_ISA_PORTABLE)
    }

    /// y[t, n] = Σ_k x[t, k]·W[n, k] — x: [T, K], W: [N, K] in bf16, y: [T, N]. Rows of W are split
    /// across threads; each (row, token) is reduced in one fixed order, so results are batch-invariant.
    static func matmul(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        precondition(w.dtype == .bf16, "BF16Kernels: weight is \(w.dtype)")
        let t = x.rows, k = x.cols, n = w.rows
        precondition(w.cols == k, "matmul: x has \(k) columns, weight has \(w.cols)")
        var y = Matrix(pooledZeros: t, n)
        x.data.withUnsafeBufferPointer { xp in
            w.bytes.withUnsafeBytes { wp in
                y.withUnsafeMutableElements { yp in
                    let xb = xp.baseAddress!, wb = wp.bindMemory(to: UInt16.self).baseAddress!, yb = yp.baseAddress!
                    Parallel.forEach(n, minChunk: 64) { range in
                        ck_matmul_bf16(isa, wb, range.lowerBound, range.upperBound, xb, t, k, yb, n)
                    }
                }
            }
        }
        return y
    }
}
