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
    /// The kernel variant for this CPU: AVX2+FMA(+F16C) where present — with AVX-512 on top where the CPU
    /// has VNNI and VL too (the int8 kernels' VNNI, and 512-bit vectors in the attention kernels but the single
    /// row's; every other kernel runs its AVX2 code there) — otherwise the portable C loops.
    static func isa(for features: CPUFeatures) -> Int32 {
        guard features.avx2 && features.fma && features.f16c else { return Int32(CK_ISA_PORTABLE) }
        return features.avx512f && features.avx512vnni && features.avx512vl ? Int32(CK_ISA_AVX512) : Int32(CK_ISA_AVX2)
    }

    /// y = x·Wᵀ with x quantised to int8 per 32-block (ck_quantize_q8) and integer block products.
    /// Each (row, token) is reduced in one fixed order on every ISA and tile, so it is batch-invariant
    /// and the AVX2 result equals the portable one bit for bit.
    static func matmulInt8(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        let w = w.withTiles()   // the int8 kernels read tiles only (a device's int8 weights hold them already)
        return run(BlockActivations(x, int8: true, isa: isa, corrections: BlockActivations.needsCorrections(w, isa: isa)), w, isa: isa)
    }

    /// y[t, n] = Σ_k x[t, k]·W[n, k] — x: [T, K], W: [N, K] as blocks, y: [T, N]. Rows of W are split
    /// across threads; each (row, token) is reduced in a fixed order, so results are batch-invariant.
    /// Only the portable loops read the activation block sums (the AVX2 kernel folds the Q4 minima into
    /// its dequantised weights).
    static func matmul(_ x: Matrix, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        run(BlockActivations(x, int8: false, isa: isa), w, isa: isa)
    }

    /// Tokens from which a matmul is split in many panel-aligned chunks (a prompt or a large batch).
    static let promptTokens = 64
    /// Rows of the AVX2 kernel's dequantised panel (CK_PANEL_ROWS in QuantDotAVX2.h).
    static let panelRows = 12

    private static func run(_ a: BlockActivations, _ w: QuantisedBlocks, isa: Int32) -> Matrix {
        let t = a.x.rows, n = w.rows
        precondition(w.cols == a.x.cols, "matmul: x has \(a.x.cols) columns, weight has \(w.cols)")
        // Not zeroed first: the kernels assign every (row, token) of y (QuantTileInvarianceTests checks
        // no element is left unwritten).
        let weight = BlockActivations.Pointers.Weight(w)
        return withExtendedLifetime(w) {
            Matrix(rows: t, cols: n) { yb in
                a.withPointers { p in
                    // A prompt's chunk of rows runs for milliseconds, and the core that finishes first waits for
                    // the other's last chunk: from `promptTokens` on, many chunks of whole 12-row panels
                    // (CK_PANEL_ROWS) keep that wait short without splitting a panel.
                    // Weights read from tiles split at whole 8-row tiles: the int8 kernel computes a cut tile twice,
                    // and the fp32 one dequantises whole tiles by a transpose but a cut one row by row.
                    let tiled = w.tiles != nil && (a.int8 || w.rowStorage == nil)
                    let (unit, minUnits, perWorker) = t < promptTokens ? (tiled ? 8 : 1, tiled ? 8 : 64, 4) : (tiled ? 8 : panelRows, 1, 16)
                    var job = RowsJob(p: p, weight: weight, isa: isa, unit: unit, t: t, n: n, y: yb)
                    Parallel.forEach((n + unit - 1) / unit, minChunk: minUnits, chunksPerWorker: perWorker, context: &job) { job, range in
                        let j = job.load(as: RowsJob.self)
                        let rows = (range.lowerBound * j.unit)..<min(j.n, range.upperBound * j.unit)
                        j.p.run(isa: j.isa, weight: j.weight, rows: rows, start: 0, count: j.t, y: j.y, n: j.n)
                    }
                }
            }
        }
    }
}

/// What a chunk of `run`'s weight rows reads (Parallel.forEach's context: the closure captures nothing).
private struct RowsJob {
    let p: BlockActivations.Pointers
    let weight: BlockActivations.Pointers.Weight
    let isa: Int32
    let unit, t, n: Int
    let y: UnsafeMutablePointer<Float>
}

/// The rows of x as the quantised kernels read them: fp32 (+ block sums for the portable loops) or int8
/// per 32-block with scales and sums (ck_quantize_q8), prepared once per matmul or grouped job.
struct BlockActivations {
    let x: Matrix
    let int8, hasSums: Bool
    private(set) var hasCorrections = false
    var sums = Self.unusedFloats
    /// int8 activations in one allocation (a decode step makes ~120 of these): the T·K quantised values q,
    /// then the T·K/32 block scales d, then the T·K/32 block sums s, both fp32 (4-byte aligned: T·K is a
    /// multiple of 32). Empty for fp32 activations.
    private var int8Storage: [UInt8] = []
    /// ck_q8_block_corrections of q, for the VNNI kernel over Q8_0 tiles (computed once here, not per task),
    /// when the caller asks for them (`needsCorrections`).
    var c = Self.unusedInt32
    /// One-element stand-ins for the arrays a precision does not use (the kernels take a pointer anyway);
    /// shared, so a matmul does not allocate them.
    private static let unusedFloats: [Float] = [0], unusedInt32: [Int32] = [0], unusedInt8: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]

    /// Whether int8 activations for `w` should carry Q8_0 tile corrections: only the VNNI kernel over Q8_0
    /// tiles reads them.
    static func needsCorrections(_ w: QuantisedBlocks, isa: Int32) -> Bool {
        w.dtype == .q8_0 && w.tiles != nil && isa >= Int32(CK_ISA_AVX512)
    }

    /// Only the portable fp32 loops read the block sums (the AVX2 kernel folds the Q4 minima into its
    /// dequantised weights); the int8 quantiser runs on `isa` (both variants give the same bits).
    init(_ x: Matrix, int8: Bool, isa: Int32, corrections: Bool = false) {
        self.x = x
        self.int8 = int8
        let needsSums = isa == Int32(CK_ISA_PORTABLE)
        hasSums = !int8 && needsSums
        let blocks = x.rows * x.cols / 32
        if int8 {   // ck_quantize_q8 writes every element: no zero-fill first
            let (rows, cols) = (x.rows, x.cols)
            let count = rows * cols, bytes = count + 8 * blocks
            // Blocks are independent: a prompt's rows are quantised on every core (same bits in any split).
            var quantised: UnsafeMutablePointer<Int8>?
            int8Storage = ArrayPools.current.takeBytes(count: bytes) { raw in
                let (q, d, s) = Self.int8Parts(UnsafeMutableRawPointer(raw), count: count, blocks: blocks)
                quantised = q
                x.data.withUnsafeBufferPointer { xp in
                    // Through a context (`Parallel.forEach(context:)`): a capturing closure cost an allocation per
                    // call once the rows go to both cores (a 16-sequence MoE step's expert rows).
                    var job = (isa: isa, x: xp.baseAddress!, cols: cols, q: q, d: d, s: s)
                    CPUDevice.forEachRows(rows, cols: cols, context: &job) { job, r in
                        let j = job.load(as: (isa: Int32, x: UnsafePointer<Float>, cols: Int, q: UnsafeMutablePointer<Int8>,
                                              d: UnsafeMutablePointer<Float>, s: UnsafeMutablePointer<Float>).self)
                        let (e, b) = (r.lowerBound * j.cols, r.lowerBound * (j.cols / 32))
                        ck_quantize_q8(j.isa, j.x + e, r.count, j.cols, j.q + e, j.d + b, j.s + b)
                    }
                }
            }
            if corrections, let q = quantised {   // int8Storage holds q (the pool hands out what it filled)
                c = ArrayPools.current.takeInt32s(count: blocks) { ck_q8_block_corrections(q, blocks, $0) }
                hasCorrections = true
            }
        } else if needsSums {
            sums = [Float](repeating: 0, count: blocks)
            x.data.withUnsafeBufferPointer { xp in sums.withUnsafeMutableBufferPointer { ck_block_sums(xp.baseAddress!, blocks, $0.baseAddress!) } }
        }
    }

    /// q, d and s within the int8 storage at `raw` (count values, `blocks` blocks).
    private static func int8Parts(_ raw: UnsafeMutableRawPointer, count: Int, blocks: Int)
        -> (q: UnsafeMutablePointer<Int8>, d: UnsafeMutablePointer<Float>, s: UnsafeMutablePointer<Float>) {
        let q = raw.bindMemory(to: Int8.self, capacity: count)
        let d = (raw + count).bindMemory(to: Float.self, capacity: 2 * blocks)
        return (q, d, d + blocks)
    }

    func withPointers<R>(_ body: (Pointers) -> R) -> R {
        let (count, blocks) = int8 ? (x.rows * x.cols, x.rows * x.cols / 32) : (0, 0)
        let storage = int8 ? int8Storage : Self.unusedInt8
        return x.data.withUnsafeBufferPointer { xp in
            sums.withUnsafeBufferPointer { sp in
                storage.withUnsafeBytes { raw in
                    c.withUnsafeBufferPointer { cp in
                        let (q, d, s) = Self.int8Parts(UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: count, blocks: blocks)
                        return body(Pointers(int8: int8, hasSums: hasSums, hasCorrections: hasCorrections, k: x.cols, x: xp.baseAddress!,
                                             sums: sp.baseAddress!, q: q, d: d, s: s, c: cp.baseAddress!))
                    }
                }
            }
        }
    }

    /// The int8 values, scales and sums as arrays (tests).
    var q: [Int8] { withPointers { Array(UnsafeBufferPointer(start: $0.q, count: int8 ? x.rows * x.cols : 0)) } }
    var d: [Float] { withPointers { Array(UnsafeBufferPointer(start: $0.d, count: int8 ? x.rows * x.cols / 32 : 0)) } }
    var s: [Float] { withPointers { Array(UnsafeBufferPointer(start: $0.s, count: int8 ? x.rows * x.cols / 32 : 0)) } }

    struct Pointers {
        let int8, hasSums, hasCorrections: Bool
        let k: Int
        let x: UnsafePointer<Float>, sums: UnsafePointer<Float>
        let q: UnsafePointer<Int8>, d: UnsafePointer<Float>, s: UnsafePointer<Float>, c: UnsafePointer<Int32>

        /// A block-quantised weight as the kernels take it. Its bytes must outlive the value (the caller
        /// keeps the weight).
        struct Weight {
            let dtype: Int32
            let rowBytes: Int
            /// The row-layout blocks (nil for a weight held only in tiles: fp32 activations then gather its rows back).
            let base: UnsafePointer<UInt8>?
            /// The 8-row tiles (`QuantisedBlocks.tiles`), the only layout int8 activations multiply.
            let tiles: UnsafePointer<UInt8>?

            init(_ blocks: QuantisedBlocks) {
                (dtype, rowBytes) = (Int32(blocks.dtype.rawValue), blocks.rowBytes)
                base = blocks.rowStorage?.withUnsafeBufferPointer { $0.baseAddress! }
                tiles = blocks.tiles?.withUnsafeBufferPointer { $0.baseAddress! }
            }
        }

        /// y[t·n + r] for r in `rows` and the `count` x rows from `start` (y points at row `start`'s output).
        func run(isa: Int32, weight w: Weight, rows: Range<Int>, start: Int, count: Int, y: UnsafeMutablePointer<Float>, n: Int) {
            let nb = k / 32
            if int8 {
                guard let tiles = w.tiles else { preconditionFailure("matmul: int8 activations multiply tiles; this weight has none") }
                ck_matmul_q8_tiled(isa, w.dtype, tiles, rows.lowerBound, rows.upperBound,
                                   q + start * k, d + start * nb, s + start * nb, hasCorrections ? c + start * nb : nil, count, k, y, n)
            } else {
                let xs = hasSums ? sums + start * nb : sums
                if let base = w.base {
                    ck_matmul_blocks(isa, w.dtype, base, w.rowBytes, rows.lowerBound, rows.upperBound, x + start * k, xs, count, k, y, n)
                } else {   // the same bits from the tiles (rows gathered back a few dozen at a time)
                    ck_matmul_blocks_tiled(isa, w.dtype, w.tiles!, rows.lowerBound, rows.upperBound, x + start * k, xs, count, k, y, n)
                }
            }
        }
    }
}
