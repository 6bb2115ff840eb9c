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
    /// Weights loaded but not run by `forward`, by checkpoint name (DeepSeek's multi-token-prediction
    /// layers, kept for speculative decoding).
    public let auxiliaryWeights: [String: DeviceWeight]

    init(architecture: ModelArchitecture, device: any Device, vocabularySize: Int, contextLength: Int, cacheLayout: KVCacheLayout,
         embedding: DeviceWeight, layers: [DecoderLayer], norm: DeviceWeight, lmHead: DeviceWeight?, rmsNormEps: Float,
         auxiliaryWeights: [String: DeviceWeight] = [:]) {
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
        self.auxiliaryWeights = auxiliaryWeights
    }

    public var hiddenSize: Int { norm.shape[0] }
    public var hasOutputHead: Bool { lmHead != nil }

    public func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        let step = StepContext(batch: batch, cache: cache)
        var x = device.embedding(step.tokens, table: embedding)   // [T, E]
        for (l, layer) in layers.enumerated() {
            layer(&x, layer: l, step: step, device: device, eps: rmsNormEps)
        }
        let hidden = device.rmsNorm(step.logitRows(x), weight: norm, eps: rmsNormEps)    // [rows, E]
        guard batch.output == .logits else { return hidden }
        guard let lmHead else { preconditionFailure("the checkpoint has no output head: it gives hidden states only") }
        return device.matmul(hidden, lmHead)                                            // [rows, V]
    }
}
