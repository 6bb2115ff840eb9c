import Device

// E hidden, V vocabulary, X experts, F expert width

/// Builds Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE from a Hugging Face folder: GQA attention and a
/// softmax-routed MoE block (or a dense MLP in Qwen's `mlp_only_layers`).
enum SparseMoEModel {
    static func load(config c: SparseMoEConfig, architecture a: ModelArchitecture, weights w: WeightLoader) throws -> DecoderModel {
        guard c.clip_qkv == nil else { throw CheckpointError.unsupported("OLMoE clip_qkv") }
        let b = try GQADecoderBuilder(hidden: c.hidden_size, heads: c.num_attention_heads, kvHeads: c.num_key_value_heads, headDim: c.head_dim,
                                      layers: c.num_hidden_layers, vocabularySize: c.vocab_size, rmsNormEps: c.rms_norm_eps, rope: c.rope,
                                      maxPositionEmbeddings: c.max_position_embeddings, hiddenAct: c.hidden_act)
        let window = c.use_sliding_window == false ? nil : c.sliding_window.flatMap { $0 > 0 ? $0 : nil }
        // No sliding-window attention: stop where it would start.
        return try b.build(w, architecture: a, qkNormPerHead: a == .qwen3Moe, contextLength: min(c.max_position_embeddings, window ?? .max),
                           tiedHead: c.tie_word_embeddings == true) { i, _ in
            try feedForward(w, layer: i, config: c, architecture: a)
        }
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
