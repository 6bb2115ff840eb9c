import CKernels

/// bf16 as a load-time target (`--quantization bf16`): half the bytes of fp32, the fp32 exponent range,
/// 8 significant bits. Read by `BF16Kernels`.
extension QuantisedBlocks {
    /// `values` ([rows, cols] row-major, any cols) rounded to bf16, nearest with ties to even (fp16 and
    /// dequantised fp8 values arrive here as fp32; bf16 checkpoints take `init(bf16:)` and stay bit-exact).
    public init(bf16Rounding values: [Float], rows: Int, cols: Int) {
        precondition(values.count == rows * cols, "bf16: \(values.count) values for [\(rows), \(cols)]")
        var bits = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            bits.withUnsafeMutableBufferPointer { ck_f32_to_bf16(src.baseAddress!, src.count, $0.baseAddress!) }
        }
        self = bits.withUnsafeBytes { QuantisedBlocks(dtype: .bf16, rows: rows, cols: cols, source: $0) }
    }

    /// bf16 bytes (little-endian, as safetensors stores them) copied as they are.
    public init(bf16 source: UnsafeRawBufferPointer, rows: Int, cols: Int) {
        self.init(dtype: .bf16, rows: rows, cols: cols, source: source)
    }
}
