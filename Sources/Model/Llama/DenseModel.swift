import Device

// E hidden, V vocabulary

/// Builds the dense families (Llama, Qwen2 with q/k/v biases, Qwen3 with per-head q/k norms) from a
/// Hugging Face folder.
enum DenseModel {
    static func load(config c: DenseConfig, architecture a: ModelArchitecture, weights w: WeightLoader) throws -> DecoderModel {
        guard c.mlp_bias != true else { throw CheckpointError.unsupported("mlp_bias") }
        let b = try GQADecoderBuilder(hidden: c.hidden_size, heads: c.num_attention_heads, kvHeads: c.num_key_value_heads, headDim: c.head_dim,
                                      layers: c.num_hidden_layers, vocabularySize: c.vocab_size, rmsNormEps: c.rms_norm_eps, rope: c.rope,
                                      maxPositionEmbeddings: c.max_position_embeddings, hiddenAct: c.hidden_act)
        let window = c.use_sliding_window == true ? c.sliding_window : nil
        return try b.build(w, architecture: a, qkNormPerHead: true, contextLength: min(c.max_position_embeddings, window ?? .max),
                           tiedHead: c.tie_word_embeddings == true || !w.checkpoint.contains("lm_head.weight") && c.tie_word_embeddings == nil) { _, p in
            try w.mlp("\(p).mlp", hidden: c.hidden_size, width: c.intermediate_size)
        }
    }
}
