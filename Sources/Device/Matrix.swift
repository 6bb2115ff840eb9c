import Foundation

/// Activations: a row-major fp32 matrix `[rows, cols]`. Rows are tokens, columns features.
public struct Matrix: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "Matrix data has \(data.count) elements, shape needs \(rows * cols)")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// A 0×0 matrix (no storage: an empty array allocates nothing).
    static let placeholder = Matrix(rows: 0, cols: 0, data: [])

    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: 0, count: rows * cols))
    }

    /// A matrix whose every element `fill` assigns through the pointer. The buffer is not zeroed first
    /// (no memset, and fresh pages are touched once), so `fill` must write all rows·cols elements; it is
    /// not called for an empty matrix.
    /// The storage comes from the thread's `ArrayPools`: in steady state, a buffer an earlier op's output left.
    public init(rows: Int, cols: Int, assigningEvery fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.init(rows: rows, cols: cols, data: ArrayPools.current.takeFloats(count: rows * cols, fill))
    }

    /// A zeroed matrix whose storage comes from the thread's `ArrayPools` (for ops that accumulate into it).
    public init(pooledZeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols) { $0.update(repeating: 0, count: rows * cols) }
    }

    /// `body` on the elements in place; a pooled buffer no other matrix holds is written without a copy
    /// (`ArrayPool.mutate`).
    public mutating func withUnsafeMutableElements(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let pools = ArrayPools.current
        pools.emptyFreeMatrixLists()   // a fused call's free list may still hold this matrix
        pools.mutateFloats(&data, body)
    }

    /// `count` matrices of `rows` rows and `cols(i)` columns, every element of which `fill` assigns through
    /// its pointer (one per matrix, in order; an empty matrix gets a valid pointer it must not write). As
    /// `init(rows:cols:assigningEvery:)`: no zeroing, so `fill` must write every element, and the storage
    /// comes from the pool, as does the list (`MatrixListPool`; a decode step makes ~60 of these calls; the
    /// pointer list is temporary).
    static func assigningEvery(count: Int, rows: Int, cols: (Int) -> Int,
                               _ fill: (UnsafeBufferPointer<UnsafeMutablePointer<Float>>) -> Void) -> [Matrix] {
        var placeholder: Float = 0
        return withUnsafeMutablePointer(to: &placeholder) { empty in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: max(1, count)) { pointers in
                pointers.initialize(repeating: empty)
                // Each array exists only once its initialiser returns, so they nest: the innermost runs `fill`
                // with every pointer set.
                func nest(_ i: Int, _ result: UnsafeMutableBufferPointer<Matrix>) {
                    guard i < count else { fill(UnsafeBufferPointer(start: pointers.baseAddress, count: count)); return }
                    let n = rows * cols(i)
                    var data: [Float] = []
                    if n > 0 {
                        data = ArrayPools.current.takeFloats(count: n) { p in
                            pointers[i] = p
                            nest(i + 1, result)
                        }
                    } else {
                        nest(i + 1, result)
                    }
                    result[i] = Matrix(rows: rows, cols: cols(i), data: data)
                }
                return ArrayPools.current.takeMatrices(count: count) { nest(0, $0) }
            }
        }
    }

    /// One row as a fresh array.
    public func row(_ r: Int) -> [Float] { Array(data[(r * cols)..<((r + 1) * cols)]) }
}

/// A weight resident on a device, in that device's layout. Devices create these in `upload`.
///
/// NOTE: a weight is held either as fp32 `values`, as the checkpoint's quantised `blocks` (GGUF
/// Q4_0/Q4_1/Q8_0, 4–8× smaller, read by the quantised kernels), or in the simulated NPU's `fractal`
/// layout (NZ tiles in bf16/fp16/int8). For blocks and fractals, `values` is dequantised lazily on first
/// use and then kept: only ops without a kernel for that storage pay for it.
public final class DeviceWeight: @unchecked Sendable {
    /// Logical shape, outermost first (`[N, K]` for a linear layer's weight).
    public let shape: [Int]
    /// The checkpoint's element type before upload (what traffic/memory models account for).
    public let sourceType: DType
    /// The quantised rows as stored in the checkpoint, or nil when the weight is held as fp32.
    public let blocks: QuantisedBlocks?
    /// The weight in the simulated NPU's NZ layout and number format, or nil.
    public let fractal: FractalWeight?
    private let storedValues: [Float]?
    private let lock = NSLock()
    private var dequantised: [Float]?

    public init(shape: [Int], sourceType: DType, values: [Float]) {
        precondition(values.count == shape.reduce(1, *))
        self.shape = shape
        self.sourceType = sourceType
        self.storedValues = values
        self.blocks = nil
        self.fractal = nil
    }

    public init(shape: [Int], blocks: QuantisedBlocks) {
        precondition(blocks.rows * blocks.cols == shape.reduce(1, *))
        self.shape = shape
        self.sourceType = blocks.dtype
        self.storedValues = nil
        self.blocks = blocks
        self.fractal = nil
    }

    public init(shape: [Int], sourceType: DType, fractal: FractalWeight) {
        precondition(fractal.layout.rows * fractal.layout.cols == shape.reduce(1, *))
        self.shape = shape
        self.sourceType = sourceType
        self.storedValues = nil
        self.blocks = nil
        self.fractal = fractal
    }

    /// fp32 values in row-major order (dequantised once, on first use, for quantised weights).
    public var values: [Float] {
        if let storedValues { return storedValues }
        return lock.withLock {
            if let dequantised { return dequantised }
            let v = blocks?.dequantised() ?? fractal!.rowMajor()
            dequantised = v
            return v
        }
    }

    /// Bytes this weight keeps resident (blocks, or fp32 values; a lazily dequantised copy adds to it).
    public var residentBytes: Int {
        if let storedValues { return 4 * storedValues.count }
        return (blocks?.residentBytes ?? fractal!.deviceBytes) + lock.withLock { 4 * (dequantised?.count ?? 0) }
    }

    /// Row r as fp32 into `dst` (cols elements), without dequantising the rest of the weight.
    public func copyRow(_ r: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        if let blocks { blocks.dequantiseRow(r, into: dst); return }
        if let fractal { fractal.copyRow(r, into: dst); return }
        storedValues!.withUnsafeBufferPointer { src in
            for j in 0..<cols { dst[j] = src[r * cols + j] }
        }
    }

    public var rows: Int { shape.dropLast().reduce(1, *) }
    public var cols: Int { shape.last ?? 1 }
}

/// How RoPE pairs the elements of a head: `.interleaved` rotates (2i, 2i+1) — GGUF's llama layout and
/// DeepSeek's MLA; `.halves` rotates (i, i + D/2) — Hugging Face `rotate_half`.
public enum RoPEStyle: Sendable {
    case interleaved
    case halves
}

/// Shape parameters of one attention call. T query tokens, S cached tokens, H query heads,
/// G key/value heads (H is a multiple of G), D head dim.
/// One sequence's part of a batched paged-attention call: its rows of the stacked queries, its block
/// table, and each row's absolute position.
public struct PagedSequence: Sendable {
    public var rows: Range<Int>
    public var blockTable: [Int]
    /// Row i's position is `firstPosition + i` (consecutive positions: every chunk a step runs), unless the
    /// positions were given one by one and are not consecutive (`explicitPositions`).
    private let firstPosition: Int
    private let explicitPositions: [Int]?

    public init(rows: Range<Int>, blockTable: [Int], positions: [Int]) {
        precondition(rows.count == positions.count, "PagedSequence: one position per row")
        self.rows = rows
        self.blockTable = blockTable
        firstPosition = positions.first ?? 0
        let consecutive = positions.indices.dropFirst().allSatisfy { positions[$0] == positions[$0 - 1] + 1 }
        explicitPositions = consecutive ? nil : positions
    }

    /// Rows at consecutive positions from `firstPosition`, with no positions array (a decode step builds one
    /// of these per sequence).
    public init(rows: Range<Int>, blockTable: [Int], firstPosition: Int) {
        self.rows = rows
        self.blockTable = blockTable
        self.firstPosition = firstPosition
        explicitPositions = nil
    }

    /// Each row's absolute position (a fresh array for consecutive positions; `position(_:)` makes none).
    public var positions: [Int] { explicitPositions ?? Array(firstPosition..<(firstPosition + rows.count)) }

    /// Row i's absolute position (i counts from 0, the sequence's first row).
    public func position(_ i: Int) -> Int { explicitPositions?[i] ?? firstPosition + i }

    /// The largest position of the sequence's rows, or −1 for none.
    public var lastPosition: Int {
        guard !rows.isEmpty else { return -1 }
        return explicitPositions?.max() ?? firstPosition + rows.count - 1
    }
}

public struct AttentionShape: Sendable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var scale: Float

    public init(heads: Int, kvHeads: Int, headDim: Int, scale: Float) {
        precondition(heads % kvHeads == 0, "query heads must be a multiple of kv heads")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale
    }
}

/// Inverse frequencies of a RoPE variant (default, linear, Llama 3, YaRN), one per rotated pair, and
/// the factor YaRN multiplies cos and sin by (1 otherwise).
public struct RoPETable: Sendable, Equatable {
    public var inverseFrequencies: [Float]
    public var attentionFactor: Float

    public init(inverseFrequencies: [Float], attentionFactor: Float = 1) {
        self.inverseFrequencies = inverseFrequencies
        self.attentionFactor = attentionFactor
    }
}

/// Shape of latent (MLA) and explicit-K/V attention. H heads; for `pagedLatentAttention` the latent
/// width R and rope width P; for `causalAttention` the key width Dk and value width Dv per head.
public struct LatentAttentionShape: Sendable {
    public var heads: Int
    public var keyDim: Int
    public var valueDim: Int
    public var scale: Float

    public init(heads: Int, keyDim: Int, valueDim: Int, scale: Float) {
        self.heads = heads
        self.keyDim = keyDim
        self.valueDim = valueDim
        self.scale = scale
    }
}

extension Matrix {
    /// Rows `range` as a new matrix (its storage from the thread's pool).
    public func rows(_ range: Range<Int>) -> Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows: \(range) outside \(rows) rows")
        return Matrix(rows: range.count, cols: cols) { out in
            data.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        }
    }

    /// Rows picked by index, in the order given (storage from the thread's pool).
    public func gatherRows(_ indices: [Int]) -> Matrix {
        Matrix(rows: indices.count, cols: cols) { out in
            data.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < rows, "gatherRows: row \(i) outside \(rows)")
                    (out + k * cols).update(from: src.baseAddress! + i * cols, count: cols)
                }
            }
        }
    }

    /// `top` above `bottom` (equal widths), storage from the thread's pool.
    public init(stacking top: Matrix, _ bottom: Matrix) {
        precondition(top.cols == bottom.cols, "stacking: widths \(top.cols) and \(bottom.cols)")
        self.init(rows: top.rows + bottom.rows, cols: top.cols) { out in
            top.data.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
            bottom.data.withUnsafeBufferPointer { (out + top.data.count).update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    /// The rows of `ranges`, in order, as one matrix (its storage from the thread's pool).
    public func rows(in ranges: UnsafeBufferPointer<Range<Int>>) -> Matrix {
        let count = ranges.reduce(0) { $0 + $1.count }
        return Matrix(rows: count, cols: cols) { out in
            data.withUnsafeBufferPointer { src in
                var at = 0
                for r in ranges where !r.isEmpty {
                    precondition(r.lowerBound >= 0 && r.upperBound <= rows, "rows(in:): \(r) outside \(rows) rows")
                    (out + at * cols).update(from: src.baseAddress! + r.lowerBound * cols, count: r.count * cols)
                    at += r.count
                }
            }
        }
    }

    /// Stacks matrices of equal width (storage from the thread's pool, as the two-part form's).
    public init(stacking parts: [Matrix], cols: Int) {
        for p in parts { precondition(p.cols == cols, "stacking: width \(p.cols), not \(cols)") }
        self.init(rows: parts.reduce(0) { $0 + $1.rows }, cols: cols) { out in
            var at = out
            for p in parts where !p.data.isEmpty {
                p.data.withUnsafeBufferPointer { at.update(from: $0.baseAddress!, count: $0.count) }
                at += p.data.count
            }
        }
    }
}
