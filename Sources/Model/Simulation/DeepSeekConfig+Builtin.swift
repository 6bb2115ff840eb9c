import Foundation
import Device

extension DeepSeekConfig {
    /// A built-in full-size config by name (`deepseek-v3` = R1's shape, `deepseek-v2-lite`), decoded
    /// from the same keys and values as the published `config.json`.
    public static func builtin(_ name: String) -> DeepSeekConfig? {
        let json: String
        switch name.lowercased() {
        case "deepseek-v3", "deepseek-r1": json = deepSeekV3JSON
        case "deepseek-v2-lite": json = deepSeekV2LiteJSON
        default: return nil
        }
        return try? JSONDecoder().decode(DeepSeekConfig.self, from: Data(json.utf8))
    }

    /// A built-in name or the path of a `config.json`.
    public static func load(_ nameOrPath: String) throws -> DeepSeekConfig {
        if let c = builtin(nameOrPath) { return c }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: nameOrPath) else {
            throw SimulationError.invalid("'\(nameOrPath)' is neither a built-in model (deepseek-v3, deepseek-r1, deepseek-v2-lite, deepseek-v3.2, "
                                          + "deepseek-v4-flash, deepseek-v4-pro) nor a readable config.json file")
        }
        return try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: data)
    }
}

// deepseek-ai/DeepSeek-V3 config.json (R1 has the same shape); quantization_config omitted.
private let deepSeekV3JSON = """
{"architectures":["DeepseekV3ForCausalLM"],"vocab_size":129280,"hidden_size":7168,"intermediate_size":18432,
"moe_intermediate_size":2048,"num_hidden_layers":61,"num_attention_heads":128,"n_shared_experts":1,
"n_routed_experts":256,"num_experts_per_tok":8,"routed_scaling_factor":2.5,"topk_method":"noaux_tc",
"scoring_func":"sigmoid","n_group":8,"topk_group":4,"norm_topk_prob":true,"first_k_dense_replace":3,
"moe_layer_freq":1,"q_lora_rank":1536,"kv_lora_rank":512,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
"v_head_dim":128,"max_position_embeddings":163840,"rms_norm_eps":1e-06,"rope_theta":10000,
"num_nextn_predict_layers":1,"hidden_act":"silu","tie_word_embeddings":false}
"""

// deepseek-ai/DeepSeek-V2-Lite config.json (no q compression, softmax routing).
private let deepSeekV2LiteJSON = """
{"architectures":["DeepseekV2ForCausalLM"],"vocab_size":102400,"hidden_size":2048,"intermediate_size":10944,
"moe_intermediate_size":1408,"num_hidden_layers":27,"num_attention_heads":16,"n_shared_experts":2,
"n_routed_experts":64,"num_experts_per_tok":6,"routed_scaling_factor":1.0,"topk_method":"greedy",
"scoring_func":"softmax","n_group":1,"topk_group":1,"norm_topk_prob":false,"first_k_dense_replace":1,
"moe_layer_freq":1,"q_lora_rank":null,"kv_lora_rank":512,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
"v_head_dim":128,"max_position_embeddings":163840,"rms_norm_eps":1e-06,"rope_theta":10000,
"hidden_act":"silu","tie_word_embeddings":false}
"""
