import Foundation

/// `config.json` of `DeepseekV3ForCausalLM`, `DeepseekV32ForCausalLM` (V3 + the DSA indexer keys) and
/// `DeepseekV2ForCausalLM` (keys exactly as written there).
/// V2 routes with softmax (`topk_method` greedy / group_limited_greedy); V3 with sigmoid plus a
/// selection bias (`noaux_tc`).
public struct DeepSeekConfig: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int
    public var intermediate_size: Int
    public var moe_intermediate_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var n_shared_experts: Int?
    public var n_routed_experts: Int?
    public var num_experts_per_tok: Int?
    public var routed_scaling_factor: Double?
    public var topk_method: String?
    public var scoring_func: String?
    public var n_group: Int?
    public var topk_group: Int?
    public var norm_topk_prob: Bool?
    public var first_k_dense_replace: Int?
    public var moe_layer_freq: Int?
    public var q_lora_rank: Int?
    public var kv_lora_rank: Int
    public var qk_nope_head_dim: Int
    public var qk_rope_head_dim: Int
    public var v_head_dim: Int
    public var max_position_embeddings: Int
    public var rms_norm_eps: Double?
    public var rope_theta: Double?
    public var rope_scaling: RoPEParameters?
    public var rope_parameters: RoPEParameters?
    public var rope_interleave: Bool?
    public var attention_bias: Bool?
    public var tie_word_embeddings: Bool?
    public var num_nextn_predict_layers: Int?
    public var hidden_act: String?
    public var quantization_config: QuantizationConfig?
    /// DeepSeek-V3.2's sparse-attention indexer (DSA).
    public var index_n_heads: Int?
    public var index_head_dim: Int?
    public var index_topk: Int?

    /// `quantization_config` of DeepSeek's FP8 release.
    public struct QuantizationConfig: Codable, Sendable, Equatable {
        public var quant_method: String?
        public var fmt: String?
        public var weight_block_size: [Int]?
        public var activation_scheme: String?
    }

    public var rope: RoPEParameters { .resolve(parameters: rope_parameters, scaling: rope_scaling, theta: rope_theta) }

    /// Layers from `first_k_dense_replace` on, every `moe_layer_freq`-th, use DeepSeekMoE.
    public func isMoELayer(_ layer: Int) -> Bool {
        (n_routed_experts ?? 0) > 0 && layer >= (first_k_dense_replace ?? 0) && layer % max(1, moe_layer_freq ?? 1) == 0
    }
}
