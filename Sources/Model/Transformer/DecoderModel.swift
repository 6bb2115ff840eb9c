import Device

// T tokens, E hidden, V vocabulary

/// A decoder-only transformer assembled from a Hugging Face checkpoint: token embedding, pre-norm
/// layers (any attention, any feed-forward), final RMSNorm and output head. Every family builds one.
public final class DecoderModel: LanguageModel, @unchecked Sendable {
    public let architecture: ModelArchitecture
    public let device: any Device
    public let vocabularySize: Int
    public let contextLength: Int
    public let cacheLayout: KVCacheLayout
    let embedding: DeviceWeight     // [V, E]
    let layers: [DecoderLayer]
    let norm: DeviceWeight          // [E]
    /// nil for an embedding model's checkpoint that ships no head (Qwen3-Embedding-8B): it only gives hidden states.
    let lmHead: DeviceWeight?       // [V, E]
    let rmsNormEps: Float
    /// DeepSeek's multi-token-prediction layer, when the checkpoint has one: a draft model for speculative decoding.
    public let multiTokenPredictor: MultiTokenPredictor?

    init(architecture: ModelArchitecture, device: any Device, vocabularySize: Int, contextLength: Int, cacheLayout: KVCacheLayout,
         embedding: DeviceWeight, layers: [DecoderLayer], norm: DeviceWeight, lmHead: DeviceWeight?, rmsNormEps: Float,
         multiTokenPredictor: MultiTokenPredictor? = nil) {
        self.architecture = architecture
        self.device = device
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.cacheLayout = cacheLayout
        self.embedding = embedding
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead
        self.rmsNormEps = rmsNormEps
        self.multiTokenPredictor = multiTokenPredictor
    }

    public var hiddenSize: Int { norm.shape[0] }
    public var hasOutputHead: Bool { lmHead != nil }

    public func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        let step = StepContext(batch: batch, cache: cache)
        return output(step.logitRows(residualStream(step)), batch)
    }

    public func forwardKeepingHidden(_ batch: ForwardBatch, cache: KVBlockStorage) -> (output: Matrix, hidden: Matrix) {
        let step = StepContext(batch: batch, cache: cache)
        let hidden = device.rmsNorm(residualStream(step), weight: norm, eps: rmsNormEps)       // [T, E]
        return (output(step.logitRows(hidden), batch, normed: true), hidden)
    }

    /// The residual stream after every layer `[T, E]`.
    private func residualStream(_ step: StepContext) -> Matrix {
        var x = device.embedding(step.tokens, table: embedding)   // [T, E]
        for (l, layer) in layers.enumerated() {
            layer(&x, layer: l, step: step, device: device, eps: rmsNormEps)
        }
        return x
    }

    /// The picked rows' final hidden states (the last norm applied here unless `normed`), or their logits.
    private func output(_ rows: Matrix, _ batch: ForwardBatch, normed: Bool = false) -> Matrix {
        let hidden = normed ? rows : device.rmsNorm(rows, weight: norm, eps: rmsNormEps)   // [rows, E]
        guard batch.output == .logits else { return hidden }
        guard let lmHead else { preconditionFailure("the checkpoint has no output head: it gives hidden states only") }
        return device.matmul(hidden, lmHead)                                            // [rows, V]
    }
}
