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

    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: 0, count: rows * cols))
    }

    /// One row as a fresh array.
    public func row(_ r: Int) -> [Float] { Array(data[(r * cols)..<((r + 1) * cols)]) }
}

/// A weight resident on a device, in that device's layout. Devices create these in `upload`.
public final class DeviceWeight: @unchecked Sendable {
    /// Logical shape, outermost first (`[N, K]` for a linear layer's weight).
    public let shape: [Int]
    /// The checkpoint's element type before upload (what traffic/memory models account for).
    public let sourceType: DType
    /// fp32 values in row-major order.
    public let values: [Float]

    public init(shape: [Int], sourceType: DType, values: [Float]) {
        precondition(values.count == shape.reduce(1, *))
        self.shape = shape
        self.sourceType = sourceType
        self.values = values
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
