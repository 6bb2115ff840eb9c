import Foundation

/// `config.json` of the dense families `LlamaForCausalLM`, `Qwen2ForCausalLM` and `Qwen3ForCausalLM`
/// (keys exactly as written there).
public struct DenseConfig: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int
    public var intermediate_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var num_key_value_heads: Int?
    public var head_dim: Int?
    public var max_position_embeddings: Int
    public var rms_norm_eps: Double?
    public var rope_theta: Double?
    public var rope_scaling: RoPEParameters?
    public var rope_parameters: RoPEParameters?
    public var tie_word_embeddings: Bool?
    public var attention_bias: Bool?
    public var mlp_bias: Bool?
    public var sliding_window: Int?
    public var use_sliding_window: Bool?
    public var hidden_act: String?

    public var rope: RoPEParameters { .resolve(parameters: rope_parameters, scaling: rope_scaling, theta: rope_theta) }
}
