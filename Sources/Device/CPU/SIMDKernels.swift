/// Fast fp32 kernels on Swift SIMD types (portable: the compiler lowers SIMD16 to whatever the
/// target has). Each one has a plain counterpart in `ReferenceKernels` and a parity test.
enum SIMDKernels {
    /// Σ a[i]·b[i] with four independent SIMD16 accumulators, combined in a fixed order so the
    /// result for a given pair of rows never depends on how the caller batches rows.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>(), acc2 = SIMD16<Float>(), acc3 = SIMD16<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 64 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD16<Float>.self)
            acc2 += ra.loadUnaligned(fromByteOffset: 4 * (i + 32), as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * (i + 32), as: SIMD16<Float>.self)
            acc3 += ra.loadUnaligned(fromByteOffset: 4 * (i + 48), as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * (i + 48), as: SIMD16<Float>.self)
            i += 64
        }
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
        var sum = ((acc0 + acc1) + (acc2 + acc3)).sum()
        while i < n { sum += a[i] * b[i]; i += 1 }
        return sum
    }

    /// y[t, n] = Σ_k x[t, k]·w[n, k], rows of W split across threads; each W row is read once per
    /// call and reused for all T rows of x while it is in cache.
    static func matmul(_ x: Matrix, _ w: DeviceWeight) -> Matrix {
        let t = x.rows, k = x.cols, n = w.rows
        precondition(w.cols == k, "matmul: x has \(k) columns, weight has \(w.cols)")
        // Not zeroed first: the rows' chunks cover 0..<n and each (token, row) is assigned its dot product.
        return Matrix(rows: t, cols: n) { yp in
            x.data.withUnsafeBufferPointer { xp in
                w.values.withUnsafeBufferPointer { wp in
                    var job = (x: xp.baseAddress!, w: wp.baseAddress!, y: yp, t: t, k: k, n: n)
                    Parallel.forEach(n, minChunk: 64, context: &job) { job, range in   // the closure captures nothing
                        let j = job.load(as: (x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, t: Int, k: Int, n: Int).self)
                        for row in range {
                            let wr = j.w + row * j.k
                            for tok in 0..<j.t { j.y[tok * j.n + row] = dot(j.x + tok * j.k, wr, j.k) }
                        }
                    }
                }
            }
        }
    }
}
