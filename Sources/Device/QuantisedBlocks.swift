/// A `[rows, cols]` weight kept in a GGUF block format (Q4_0, Q4_1, Q8_0: 32 elements per block),
/// each row `rowBytes` long, exactly as the checkpoint stores it — or in bf16 (`--quantization bf16`, one
/// element per "block", read by the bf16 kernel). Owns a copy of the bytes (on the CPU device, packed
/// into its huge-page `WeightArena`).
public struct QuantisedBlocks: Sendable {
    /// Block formats the quantised kernels read.
    public static let formats: Set<DType> = [.q4_0, .q4_1, .q8_0]
    /// Every format this type holds: the block formats and bf16.
    static let heldFormats: Set<DType> = formats.union([.bf16])

    public let dtype: DType
    public let rows: Int
    public let cols: Int
    public let bytes: WeightBytes

    public var rowBytes: Int { cols / dtype.blockSize * dtype.blockBytes }

    /// Copies `source` (rows · rowBytes bytes). `cols` must be a multiple of the block size.
    public init(dtype: DType, rows: Int, cols: Int, source: UnsafeRawBufferPointer) {
        precondition(Self.heldFormats.contains(dtype) && cols % dtype.blockSize == 0, "QuantisedBlocks: \(dtype) with \(cols) columns")
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        let count = rows * (cols / dtype.blockSize) * dtype.blockBytes
        precondition(source.count >= count, "QuantisedBlocks: \(source.count) bytes, shape needs \(count)")
        bytes = WeightBytes(copying: UnsafeRawBufferPointer(rebasing: source[0..<count]))
    }

    private init(dtype: DType, rows: Int, cols: Int, bytes: WeightBytes) {
        (self.dtype, self.rows, self.cols, self.bytes) = (dtype, rows, cols, bytes)
    }

    /// The same weight with its bytes copied into `arena`.
    func packed(into arena: WeightArena) -> QuantisedBlocks {
        QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, bytes: bytes.withUnsafeBytes { arena.copy($0) })
    }

    /// Row r as fp32 with the reference dequantiser.
    public func dequantiseRow(_ r: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        bytes.withUnsafeBytes { raw in
            let row = UnsafeRawBufferPointer(rebasing: raw[(r * rowBytes)..<((r + 1) * rowBytes)])
            Dequantize.row(dtype, source: row, count: cols, into: dst)
        }
    }

    /// The whole weight as fp32 with the reference dequantiser.
    public func dequantised() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { Dequantize.row(dtype, source: raw, count: rows * cols, into: $0) }
        }
        return out
    }
}
