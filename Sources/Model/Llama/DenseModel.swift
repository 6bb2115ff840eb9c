import Device

// E hidden, V vocabulary

/// Builds the dense families (Llama, Qwen2 with q/k/v biases, Qwen3 with per-head q/k norms) from a
/// Hugging Face folder.
enum DenseModel {
    static func load(config c: DenseConfig, architecture a: ModelArchitecture, weights w: WeightLoader) throws -> DecoderModel {
        guard (c.hidden_act ?? "silu") == "silu" else { throw CheckpointError.unsupported("hidden_act '\(c.hidden_act!)'") }
        guard c.mlp_bias != true else { throw CheckpointError.unsupported("mlp_bias") }
        let (e, heads) = (c.hidden_size, c.num_attention_heads)
        let kvHeads = c.num_key_value_heads ?? heads
        let headDim = c.head_dim ?? e / heads
        let eps = Float(c.rms_norm_eps ?? 1e-6)
        let rope = try c.rope.table(dim: headDim, maxPositionEmbeddings: c.max_position_embeddings)
        let layers = try (0..<c.num_hidden_layers).map { i -> DecoderLayer in
            let p = "model.layers.\(i)"
            return DecoderLayer(
                inputNorm: try w.load("\(p).input_layernorm.weight", [e]),
                attention: try GQAAttention(w, prefix: "\(p).self_attn", hidden: e, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                            rope: rope, qkNormPerHead: true, eps: eps),
                postAttentionNorm: try w.load("\(p).post_attention_layernorm.weight", [e]),
                mlp: try w.mlp("\(p).mlp", hidden: e, width: c.intermediate_size))
        }
        let embedding = try w.load("model.embed_tokens.weight", [c.vocab_size, e])
        let window = c.use_sliding_window == true ? c.sliding_window : nil
        return DecoderModel(
            architecture: a, device: w.device, vocabularySize: c.vocab_size,
            contextLength: min(c.max_position_embeddings, window ?? .max),
            cacheLayout: KVCacheLayout(layers: c.num_hidden_layers, width: 2 * kvHeads * headDim),
            embedding: embedding, layers: layers, norm: try w.load("model.norm.weight", [e]),
            lmHead: c.tie_word_embeddings == true || !w.checkpoint.contains("lm_head.weight") && c.tie_word_embeddings == nil
                ? embedding : try w.load("lm_head.weight", [c.vocab_size, e]),
            rmsNormEps: eps)
    }
}
