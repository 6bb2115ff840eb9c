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
    public init(quantising values: [Float], rows: Int, cols: Int, to dtype: DType) {
        if dtype == .bf16 { self.init(bf16Rounding: values, rows: rows, cols: cols); return }
        precondition(Self.quantisationTargets.contains(dtype) && cols % 32 == 0 && values.count == rows * cols,
                     "quantising: \(dtype) of [\(rows), \(cols)]")
        let blocks = rows * cols / 32
        var bytes = [UInt8](repeating: 0, count: blocks * dtype.blockBytes)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBufferPointer { dst in
                for b in 0..<blocks {
                    let x = UnsafeBufferPointer(rebasing: src[(32 * b)..<(32 * b + 32)])
                    let out = UnsafeMutableBufferPointer(rebasing: dst[(b * dtype.blockBytes)..<((b + 1) * dtype.blockBytes)])
                    if dtype == .q8_0 { Self.quantiseQ8_0(x, into: out) } else { Self.quantiseQ4_0(x, into: out) }
                }
            }
        }
        self = bytes.withUnsafeBytes { QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, source: $0) }
    }

    private static func storeHalf(_ v: Float, _ out: UnsafeMutableBufferPointer<UInt8>) {
        let bits = Float16(v).bitPattern
        out[0] = UInt8(bits & 0xFF)
        out[1] = UInt8(bits >> 8)
    }

    private static func quantiseQ8_0(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt8>) {
        let amax = x.reduce(Float(0)) { max($0, abs($1)) }
        let d = amax / 127, inv: Float = d > 0 ? 1 / d : 0
        storeHalf(d, out)
        for j in 0..<32 {
            let q = max(-127, min(127, Int((x[j] * inv).rounded())))
            out[2 + j] = UInt8(bitPattern: Int8(q))
        }
    }

    private static func quantiseQ4_0(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt8>) {
        var m: Float = 0
        for v in x where abs(v) > abs(m) { m = v }
        let d = m / -8, inv: Float = d != 0 ? 1 / d : 0
        storeHalf(d, out)
        for j in 0..<16 {
            let lo = UInt8(max(0, min(15, Int((x[j] * inv).rounded()) + 8)))
            let hi = UInt8(max(0, min(15, Int((x[j + 16] * inv).rounded()) + 8)))
            out[2 + j] = lo | (hi << 4)
        }
    }
}
