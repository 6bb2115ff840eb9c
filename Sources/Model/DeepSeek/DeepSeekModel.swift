import Device
import Foundation

// E hidden, V vocabulary, X routed experts

/// Builds DeepSeek-V2/V3/V3.2 (and Moonlight, which is V3) from a Hugging Face folder: MLA attention in every
/// layer, a dense MLP in the first `first_k_dense_replace` layers and DeepSeekMoE after. On request, the first
/// multi-token-prediction layer (`model.layers.{N}`, N = `num_hidden_layers`) becomes the model's
/// `MultiTokenPredictor`, a draft model for speculative decoding; otherwise its tensors are not read.
enum DeepSeekModel {
    /// `multiTokenPrediction`: build the MTP layer too, when the checkpoint has one (a whole MoE layer more in memory).
    static func load(config c: DeepSeekConfig, architecture: ModelArchitecture, weights w: WeightLoader, mlaForm: MLAForm,
                     multiTokenPrediction: Bool = false) throws -> DecoderModel {
        guard (c.hidden_act ?? "silu") == "silu" else { throw CheckpointError.unsupported("hidden_act '\(c.hidden_act!)'") }
        if let block = c.quantization_config?.weight_block_size {
            guard block.count == 2, block.allSatisfy({ $0 > 0 }) else { throw CheckpointError.invalid("weight_block_size \(block)") }
            w.checkpoint.fp8BlockSize = block
        }
        let e = c.hidden_size
        let eps = Float(c.rms_norm_eps ?? 1e-6)
        let rope = try c.rope.table(dim: c.qk_rope_head_dim, maxPositionEmbeddings: c.max_position_embeddings)
        // The cache slot: [latent c, k_rope] (+ V3.2's indexer key).
        let latentWidth = c.kv_lora_rank + c.qk_rope_head_dim
        let slotWidth = latentWidth + (architecture == .deepseekV32 ? c.index_head_dim ?? 0 : 0)
        // V3's HF port may store rotary weights de-interleaved (`rope_interleave: false`); V2 never does.
        let ropeStyle: RoPEStyle = architecture == .deepseekV3 && c.rope_interleave == false ? .halves : .interleaved
        let build = LayerBuilder(config: c, architecture: architecture, rope: rope, ropeStyle: ropeStyle, mlaForm: mlaForm, latentWidth: latentWidth)
        let layers = try (0..<c.num_hidden_layers).map { try build.layer(w, index: $0) }
        let embedding = try w.load("model.embed_tokens.weight", [c.vocab_size, e])
        let lmHead = c.tie_word_embeddings == true ? embedding : try w.load("lm_head.weight", [c.vocab_size, e])
        return DecoderModel(
            architecture: architecture, device: w.device, vocabularySize: c.vocab_size, contextLength: c.max_position_embeddings,
            cacheLayout: KVCacheLayout(layers: c.num_hidden_layers, width: slotWidth),
            embedding: embedding, layers: layers, norm: try w.load("model.norm.weight", [e]), lmHead: lmHead, rmsNormEps: eps,
            multiTokenPredictor: multiTokenPrediction ? try MultiTokenPredictor(w, config: c, build: build, embedding: embedding, lmHead: lmHead) : nil)
    }

    /// How one decoder layer of this checkpoint is built (the main layers and the MTP layer's block alike).
    struct LayerBuilder {
        let config: DeepSeekConfig
        let architecture: ModelArchitecture
        let rope: RoPETable
        let ropeStyle: RoPEStyle
        let mlaForm: MLAForm
        let latentWidth: Int

        /// `model.layers.{index}`: MLA attention (with V3.2's indexer), then a dense MLP or DeepSeekMoE.
        func layer(_ w: WeightLoader, index i: Int) throws -> DecoderLayer {
            let (c, e, p) = (config, config.hidden_size, "model.layers.\(i)")
            let attention = try MLAAttention(w, prefix: "\(p).self_attn", config: c, rope: rope, ropeStyle: ropeStyle)
            attention.form = mlaForm
            if architecture == .deepseekV32 {
                attention.indexer = try TokenIndexer(w, prefix: "\(p).self_attn.indexer", config: c, rope: rope, columnStart: latentWidth)
            }
            return DecoderLayer(
                inputNorm: try w.load("\(p).input_layernorm.weight", [e]),
                attention: attention,
                postAttentionNorm: try w.load("\(p).post_attention_layernorm.weight", [e]),
                mlp: c.isMoELayer(i) ? try moe(w, prefix: "\(p).mlp", config: c, architecture: architecture)
                                     : try w.mlp("\(p).mlp", hidden: e, width: c.intermediate_size))
        }
    }

    static func moe(_ w: WeightLoader, prefix: String, config c: DeepSeekConfig, architecture: ModelArchitecture) throws -> DeepSeekMoE {
        let (e, x, f) = (c.hidden_size, c.n_routed_experts ?? 0, c.moe_intermediate_size)
        let v3 = architecture != .deepseekV2     // V3 and V3.2 route alike
        let method = c.topk_method ?? (v3 ? "noaux_tc" : "greedy")
        guard ["noaux_tc", "greedy", "group_limited_greedy"].contains(method) else {
            throw CheckpointError.unsupported("topk_method '\(method)' (supported: greedy, group_limited_greedy, noaux_tc)")
        }
        let scoring = c.scoring_func ?? (v3 ? "sigmoid" : "softmax")
        guard scoring == "sigmoid" || scoring == "softmax" else { throw CheckpointError.unsupported("scoring_func '\(scoring)'") }
        let groups = method == "greedy" ? 1 : max(1, c.n_group ?? 1)
        guard x % groups == 0 else { throw CheckpointError.invalid("\(x) experts do not split into n_group = \(groups)") }
        // NOTE: V2 renormalises only when `norm_topk_prob` and top-k > 1, as DeepSeek's own code does;
        // transformers' V2 port never renormalises. Every released V2 config sets it false, so they agree.
        let biasName = "\(prefix).gate.e_score_correction_bias"
        let gate = MoEGate(
            device: w.device, weight: try w.load("\(prefix).gate.weight", [x, e]),
            selectionBias: w.contains(biasName) ? try w.values(biasName, [x]) : nil,
            scoring: scoring == "sigmoid" ? .sigmoid : .softmax, topK: c.num_experts_per_tok ?? 1,
            groups: groups, topKGroups: min(groups, c.topk_group ?? groups), groupScore: v3 ? .sumOfTop2 : .max,
            normalize: c.norm_topk_prob == true && (v3 || (c.num_experts_per_tok ?? 1) > 1),
            scalingFactor: Float(c.routed_scaling_factor ?? 1))
        let shared = (c.n_shared_experts ?? 0) > 0
            ? try w.mlp("\(prefix).shared_experts", hidden: e, width: f * (c.n_shared_experts ?? 0)) : nil
        return DeepSeekMoE(device: w.device, gate: gate, experts: try RoutedExperts(w, prefix: "\(prefix).experts", count: x, hidden: e, width: f),
                           shared: shared)
    }
}
