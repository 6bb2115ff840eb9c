/// Number formats of the simulated NPU. Weights are stored in `weightType`; activations entering the
/// cube and KV-cache entries are rounded to `activationType`; the cube accumulates in fp32 (int32 for
/// int8 × int8) and FixPipe writes fp32; vector (AIV) ops compute in fp32.
public enum AscendPrecision: String, Sendable, CaseIterable, Codable {
    /// bf16 weights and activations (vllm-ascend's default for unquantised DeepSeek).
    case bf16
    /// fp16 weights and activations.
    case fp16
    /// int8 weights with one scale per output channel, int8 activations with one dynamic scale per
    /// token, int32 accumulation, bf16 elsewhere (the W8A8 format vllm-ascend serves DeepSeek in).
    case w8a8

    /// Element type of matmul weights on the device.
    public var weightType: ElementType { self == .w8a8 ? .int8 : activationType }
    /// Element type of activations in GM and of the KV cache.
    public var activationType: ElementType { self == .fp16 ? .fp16 : .bf16 }

    /// `x` rounded to the activation type (round to nearest, ties to even), returned as fp32.
    @inline(__always)
    public func round(_ x: Float) -> Float {
        self == .fp16 ? Float(Float16(x)) : Self.roundBF16(x)
    }

    /// Round to nearest even on the top 16 bits of the fp32 pattern; NaN stays NaN.
    @inline(__always)
    public static func roundBF16(_ x: Float) -> Float {
        guard !x.isNaN else { return x }
        let bits = x.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }
}

/// Symmetric int8 quantisation of rows: `x[r, j] ≈ q[r, j] · scale[r]`, `scale[r] = max_j |x[r, j]| ÷ 127`
/// (1 for an all-zero row), `q = round(x ÷ scale)` clamped to ±127. Per output channel for weights,
/// per token for activations.
public struct Int8Rows: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public let values: [Int8]
    public let scales: [Float]

    public init(rows: Int, cols: Int, _ x: [Float]) {
        precondition(x.count == rows * cols, "Int8Rows: \(x.count) values for [\(rows), \(cols)]")
        var q = [Int8](repeating: 0, count: x.count)
        var s = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for j in 0..<cols { m = max(m, abs(x[r * cols + j])) }
            let scale = m > 0 ? m / 127 : 1
            s[r] = scale
            for j in 0..<cols {
                q[r * cols + j] = Int8(max(-127, min(127, (x[r * cols + j] / scale).rounded())))
            }
        }
        self.rows = rows
        self.cols = cols
        values = q
        scales = s
    }

    /// `q · scale` in fp32, row-major.
    public func dequantised() -> [Float] {
        (0..<(rows * cols)).map { Float(values[$0]) * scales[$0 / max(cols, 1)] }
    }
}
