import CKernels

/// Quantising fp32 weights into the GGUF block formats at load (`--quantization`), the way ggml's
/// reference quantisers do, so Hugging Face checkpoints run on the same quantised kernels as GGUF files.
extension QuantisedBlocks {
    /// Formats fp32 weights can be quantised to at load.
    public static let quantisationTargets: [DType] = [.q8_0, .q4_0, .bf16]

    /// The target a setting names ("q8_0", "q4_0", "bf16"; "none" and anything else: nil).
    public static func quantisationTarget(named name: String) -> DType? {
        quantisationTargets.first { $0.description.lowercased() == name }
    }

    /// The settings `--quantization` / `engine.quantization` accept, for error messages: "none, q8_0, q4_0 or bf16".
    public static var quantisationSettingNames: String {
        let names = ["none"] + quantisationTargets.map { $0.description.lowercased() }
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// `values` ([rows, cols] row-major, cols a multiple of 32 for the block formats) as `dtype` blocks:
    /// - BF16: each value rounded to nearest, ties to even (`init(bf16Rounding:)`).
    /// - Q8_0: d = max|x| / 127, q = round(x / d) in −127…127.
    /// - Q4_0: d = m / −8 where m is the block's value of largest magnitude (sign kept), q = round(x / d) + 8
    ///   clamped to 0…15, so the extreme value is exact and the rest is within d/2.
    /// The blocks come from `ck_quantize_blocks` (CKernels/QuantiseWeights.c) on `isa` (this CPU's by
    /// default), split over the worker pool: the same bytes on every ISA and split.
    public init(quantising values: [Float], rows: Int, cols: Int, to dtype: DType) {
        self.init(quantising: values, rows: rows, cols: cols, to: dtype, isa: QuantKernels.isa(for: .detect()))
    }

    init(quantising values: [Float], rows: Int, cols: Int, to dtype: DType, isa: Int32) {
        if dtype == .bf16 { self.init(bf16Rounding: values, rows: rows, cols: cols); return }
        precondition(Self.quantisationTargets.contains(dtype) && cols % 32 == 0 && values.count == rows * cols,
                     "quantising: \(dtype) of [\(rows), \(cols)]")
        let blocks = rows * cols / 32, blockBytes = dtype.blockBytes
        // ck_quantize_blocks writes every byte of every block: no zero-fill first (a gigabyte at load).
        let bytes = [UInt8](unsafeUninitializedCapacity: blocks * blockBytes) { dst, initialised in
            values.withUnsafeBufferPointer { src in
                let (x, out) = (src.baseAddress!, dst.baseAddress!)
                Parallel.forEach(blocks, minChunk: 4096) { range in
                    ck_quantize_blocks(isa, Int32(dtype.rawValue), x + 32 * range.lowerBound, range.count, out + blockBytes * range.lowerBound)
                }
            }
            initialised = blocks * blockBytes
        }
        self = bytes.withUnsafeBytes { QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, source: $0) }
    }
}
