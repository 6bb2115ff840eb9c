import Device

// E hidden, V vocabulary, X experts, F expert width

/// Builds Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE from a Hugging Face folder: GQA attention and a
/// softmax-routed MoE block (or a dense MLP in Qwen's `mlp_only_layers`).
enum SparseMoEModel {
    static func load(config c: SparseMoEConfig, architecture a: ModelArchitecture, weights w: WeightLoader) throws -> DecoderModel {
        guard (c.hidden_act ?? "silu") == "silu" else { throw CheckpointError.unsupported("hidden_act '\(c.hidden_act!)'") }
        guard c.clip_qkv == nil else { throw CheckpointError.unsupported("OLMoE clip_qkv") }
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
                                            rope: rope, qkNormPerHead: a == .qwen3Moe, eps: eps),
                postAttentionNorm: try w.load("\(p).post_attention_layernorm.weight", [e]),
                mlp: try feedForward(w, layer: i, config: c, architecture: a))
        }
        let embedding = try w.load("model.embed_tokens.weight", [c.vocab_size, e])
        let window = c.use_sliding_window == false ? nil : c.sliding_window.flatMap { $0 > 0 ? $0 : nil }
        return DecoderModel(
            architecture: a, device: w.device, vocabularySize: c.vocab_size,
            contextLength: min(c.max_position_embeddings, window ?? .max),   // no sliding-window attention: stop where it would start
            cacheLayout: KVCacheLayout(layers: c.num_hidden_layers, width: 2 * kvHeads * headDim),
            embedding: embedding, layers: layers, norm: try w.load("model.norm.weight", [e]),
            lmHead: c.tie_word_embeddings == true ? embedding : try w.load("lm_head.weight", [c.vocab_size, e]),
            rmsNormEps: eps)
    }

    static func feedForward(_ w: WeightLoader, layer i: Int, config c: SparseMoEConfig, architecture a: ModelArchitecture) throws -> any FeedForwardBlock {
        let e = c.hidden_size
        let sparse = c.experts > 0 && !(c.mlp_only_layers ?? []).contains(i) && (i + 1) % max(1, c.decoder_sparse_step ?? 1) == 0
        let mixtral = a == .mixtral
        let p = mixtral ? "model.layers.\(i).block_sparse_moe" : "model.layers.\(i).mlp"
        guard sparse else { return try w.mlp(p, hidden: e, width: c.intermediate_size) }
        let width = mixtral ? c.intermediate_size : (c.moe_intermediate_size ?? c.intermediate_size)
        let gate = MoEGate(device: w.device, weight: try w.load("\(p).gate.weight", [c.experts, e]), selectionBias: nil,
                           scoring: .softmax, topK: c.num_experts_per_tok, groups: 1, topKGroups: 1, groupScore: .max,
                           normalize: mixtral || c.norm_topk_prob == true, scalingFactor: 1)
        let experts = try RoutedExperts(w, prefix: "\(p).experts", count: c.experts, hidden: e, width: width,
                                        names: mixtral ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj"))
        var shared: DenseMLP?, sharedGate: DeviceWeight?
        if a == .qwen2Moe, let s = c.shared_expert_intermediate_size, s > 0 {
            shared = try w.mlp("\(p).shared_expert", hidden: e, width: s)
            sharedGate = try w.load("\(p).shared_expert_gate.weight", [1, e])
        }
        return SparseMoE(device: w.device, gate: gate, experts: experts, shared: shared, sharedGate: sharedGate)
    }
}
