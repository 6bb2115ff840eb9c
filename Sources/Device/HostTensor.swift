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

    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of rows when viewed as a matrix `[rows, cols]` (all but the last dimension).
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Length of the innermost dimension.
    public var cols: Int { shape.last ?? 1 }

    /// Dequantises the whole tensor to fp32 with the portable reference kernels.
    public func toFloat32() -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        out.withUnsafeMutableBufferPointer { dst in
            Dequantize.row(dtype, source: bytes, count: elementCount, into: dst)
        }
        return out
    }
}
