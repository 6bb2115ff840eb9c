import Device

// E hidden, H query heads, G kv heads, D head dim, V vocabulary

/// Assembles the Hugging Face layout every GQA family shares (`model.embed_tokens`, `model.layers.N`
/// with `input_layernorm`, `self_attn`, `post_attention_layernorm`, and `model.norm`); the families
/// differ only in each layer's feed-forward block, q/k norms, the context cap and the output head.
struct GQADecoderBuilder {
    let hidden: Int
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let layers: Int
    let vocabularySize: Int
    let eps: Float
    let rope: RoPETable

    init(hidden: Int, heads: Int, kvHeads: Int?, headDim: Int?, layers: Int, vocabularySize: Int, rmsNormEps: Double?,
         rope: RoPEParameters, maxPositionEmbeddings: Int, hiddenAct: String?) throws {
        guard (hiddenAct ?? "silu") == "silu" else { throw CheckpointError.unsupported("hidden_act '\(hiddenAct!)'") }
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? hidden / heads
        self.layers = layers
        self.vocabularySize = vocabularySize
        eps = Float(rmsNormEps ?? 1e-6)
        self.rope = try rope.table(dim: self.headDim, maxPositionEmbeddings: maxPositionEmbeddings)
    }

    /// `tiedHead`: the output head is the embedding (else `lm_head.weight`; an untied checkpoint without one, as embedding
    /// models ship, has no head); `contextLength`: the longest sequence served.
    func build(_ w: WeightLoader, architecture: ModelArchitecture, qkNormPerHead: Bool, contextLength: Int, tiedHead: Bool,
               feedForward: (_ layer: Int, _ prefix: String) throws -> any FeedForwardBlock) throws -> DecoderModel {
        let e = hidden
        let decoderLayers = try (0..<layers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)"
            return DecoderLayer(
                inputNorm: try w.load("\(p).input_layernorm.weight", [e]),
                attention: try GQAAttention(w, prefix: "\(p).self_attn", hidden: e, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                            rope: rope, qkNormPerHead: qkNormPerHead, eps: eps),
                postAttentionNorm: try w.load("\(p).post_attention_layernorm.weight", [e]),
                mlp: try feedForward(i, p))
        }
        let embedding = try w.load("model.embed_tokens.weight", [vocabularySize, e])   // [V, E]
        return DecoderModel(
            architecture: architecture, device: w.device, vocabularySize: vocabularySize, contextLength: contextLength,
            cacheLayout: KVCacheLayout(layers: layers, width: 2 * kvHeads * headDim, fieldWidth: headDim),   // K then V, per head
            embedding: embedding, layers: decoderLayers, norm: try w.load("model.norm.weight", [e]),
            lmHead: tiedHead ? embedding : try w.optional("lm_head.weight", [vocabularySize, e]),
            rmsNormEps: eps)
    }
}
