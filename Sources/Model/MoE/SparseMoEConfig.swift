import Foundation

/// `config.json` of the softmax-routed MoE families: `Qwen2MoeForCausalLM`, `Qwen3MoeForCausalLM`,
/// `MixtralForCausalLM` (`num_local_experts`) and `OlmoeForCausalLM` (keys exactly as written there).
public struct SparseMoEConfig: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int
    public var intermediate_size: Int
    public var moe_intermediate_size: Int?
    public var shared_expert_intermediate_size: Int?
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var num_key_value_heads: Int?
    public var head_dim: Int?
    public var num_experts: Int?
    public var num_local_experts: Int?
    public var num_experts_per_tok: Int
    public var norm_topk_prob: Bool?
    public var decoder_sparse_step: Int?
    public var mlp_only_layers: [Int]?
    public var max_position_embeddings: Int
    public var rms_norm_eps: Double?
    public var rope_theta: Double?
    public var rope_scaling: RoPEParameters?
    public var rope_parameters: RoPEParameters?
    public var tie_word_embeddings: Bool?
    public var qkv_bias: Bool?
    public var attention_bias: Bool?
    public var clip_qkv: Double?
    public var sliding_window: Int?
    public var use_sliding_window: Bool?
    public var hidden_act: String?

    public var rope: RoPEParameters { .resolve(parameters: rope_parameters, scaling: rope_scaling, theta: rope_theta) }
    public var experts: Int { num_experts ?? num_local_experts ?? 0 }
}
