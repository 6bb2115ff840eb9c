/// A tensor as it sits in host memory in its checkpoint format (often a slice of an mmapped file).
///
/// `shape` is row-major, outermost first: a weight of shape `[N, K]` has N rows of K elements, the
/// same convention as PyTorch's `[out_features, in_features]`. The bytes are borrowed: `owner` keeps
/// the mapping alive for as long as the tensor is.
public struct HostTensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    public let owner: AnyObject?
    /// Per-block scales that multiply the stored values (FP8 checkpoints), applied when dequantising.
    public let blockScale: BlockScale?

    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?,
                blockScale: BlockScale? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
        self.blockScale = blockScale
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of rows when viewed as a matrix `[rows, cols]` (all but the last dimension).
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Length of the innermost dimension.
    public var cols: Int { shape.last ?? 1 }

    /// Dequantises the whole tensor to fp32 with the portable reference kernels (block scales included).
    /// Split over the worker pool in whole blocks (a checkpoint quantised at load spends most of its
    /// start-up converting bf16 to fp32); every element is converted as in one pass.
    public func toFloat32() -> [Float] {
        let count = elementCount, blockSize = dtype.blockSize, blockBytes = dtype.blockBytes, bytes = bytes
        var out = [Float](unsafeUninitializedCapacity: count) { dst, initialised in
            let base = dst.baseAddress
            Parallel.forEach(count / blockSize, minChunk: 65536 / blockSize) { blocks in
                let source = UnsafeRawBufferPointer(rebasing: bytes[(blocks.lowerBound * blockBytes)..<(blocks.upperBound * blockBytes)])
                let into = UnsafeMutableBufferPointer(start: base! + blocks.lowerBound * blockSize, count: blocks.count * blockSize)
                Dequantize.row(dtype, source: source, count: into.count, into: into)
            }
            let whole = count / blockSize * blockSize   // a partial trailing block is not converted (zeros)
            if whole < count { (base! + whole).initialize(repeating: 0, count: count - whole) }
            initialised = count
        }
        if let blockScale { blockScale.apply(to: &out, rows: rows, cols: cols) }
        return out
    }
}

/// DeepSeek's block quantisation: `w[i, j] = stored[i, j] · scale[i / blockRows, j / blockCols]`, with
/// `scale` of shape `[⌈N / blockRows⌉, ⌈K / blockCols⌉]` (`weight_scale_inv`; edge blocks are clipped).
public struct BlockScale: Sendable {
    public let scales: [Float]
    public let blockRows: Int
    public let blockCols: Int

    public init(scales: [Float], blockRows: Int, blockCols: Int) {
        self.scales = scales
        self.blockRows = blockRows
        self.blockCols = blockCols
    }

    /// Scale-grid shape for a `[rows, cols]` weight.
    public func gridShape(rows: Int, cols: Int) -> [Int] {
        [(rows + blockRows - 1) / blockRows, (cols + blockCols - 1) / blockCols]
    }

    func apply(to values: inout [Float], rows: Int, cols: Int) {
        let gridCols = (cols + blockCols - 1) / blockCols
        for i in 0..<rows {
            for j in 0..<cols { values[i * cols + j] *= scales[(i / blockRows) * gridCols + j / blockCols] }
        }
    }
}
