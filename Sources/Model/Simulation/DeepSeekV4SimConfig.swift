import Device
import Foundation

/// The attention kind of one DeepSeek-V4 layer (`layer_types`).
public enum V4AttentionType: String, Sendable, CaseIterable, Codable {
    case sliding = "sliding_attention"
    case csa = "compressed_sparse_attention"
    case hca = "heavily_compressed_attention"

    public var shortName: String {
        switch self {
        case .sliding: return "sliding"
        case .csa: return "CSA"
        case .hca: return "HCA"
        }
    }
}

/// The MoE kind of one DeepSeek-V4 layer (`mlp_layer_types`).
public enum V4MLPType: String, Sendable, CaseIterable, Codable {
    case hash = "hash_moe"
    case routed = "moe"
}

/// The keys of a DeepSeek-V4 `config.json` (model_type `deepseek_v4`) that timing-only simulation needs,
/// with `transformers`' `DeepseekV4Config` defaults (= V4-Flash) and its legacy forms resolved:
/// `layer_types` > `compress_ratios` (0 or 1 sliding, 4 CSA, 128 HCA; entries past the layer count, the MTP
/// slot, are ignored) > default [HCA, HCA, then CSA at odd, HCA at even indices]; `mlp_layer_types` >
/// first `num_hash_layers` (3) hash-routed. `compress_rates` {csa, hca} > legacy `compress_rate_csa/hca`.
public struct DeepSeekV4SimConfig: Sendable, Equatable {
    public var vocabSize = 129_280
    public var hiddenSize = 4096
    public var moeIntermediateSize = 2048
    public var layers = 43
    public var heads = 64
    public var headDim = 512
    public var ropeDim = 64
    public var qLoraRank = 1024
    public var oGroups = 8
    public var oLoraRank = 1024
    public var routedExperts = 256
    public var sharedExperts = 1
    public var expertsPerToken = 6
    public var scoringFunc = "sqrtsoftplus"
    public var indexHeads = 64
    public var indexHeadDim = 128
    public var indexTopK = 512
    public var slidingWindow = 128
    /// m (CSA) and m′ (HCA).
    public var csaRate = 4
    public var hcaRate = 128
    public var hcMult = 4
    public var hcSinkhornIters = 20
    public var mtpLayers = 1
    public var layerTypes: [V4AttentionType] = []
    public var mlpLayerTypes: [V4MLPType] = []

    public init() { resolveSchedules(ratios: nil, hashLayers: 3) }

    /// Layers of each attention type.
    public func count(_ t: V4AttentionType) -> Int { layerTypes.filter { $0 == t }.count }

    mutating func resolveSchedules(ratios: [Int]?, hashLayers: Int) {
        let n = layers
        if layerTypes.isEmpty, let ratios {
            layerTypes = ratios.prefix(n).map { $0 <= 1 ? .sliding : ($0 == 4 || $0 == csaRate ? .csa : .hca) }
        }
        if layerTypes.isEmpty {
            layerTypes = (0..<n).map { i in i < 2 || i % 2 == 0 ? .hca : .csa }
        }
        layerTypes = Array(layerTypes.prefix(n))
        if mlpLayerTypes.isEmpty {
            mlpLayerTypes = (0..<n).map { $0 < hashLayers ? .hash : .routed }
        }
        mlpLayerTypes = Array(mlpLayerTypes.prefix(n))
    }

    func validate() throws {
        let positive = [vocabSize, hiddenSize, moeIntermediateSize, layers, heads, headDim, qLoraRank, oGroups, oLoraRank,
                        routedExperts, expertsPerToken, indexHeads, indexHeadDim, indexTopK, slidingWindow,
                        csaRate, hcaRate, hcMult]
        guard positive.allSatisfy({ $0 > 0 }), sharedExperts >= 0, hcSinkhornIters >= 0, ropeDim >= 0, ropeDim <= headDim else {
            throw SimulationError.invalid("DeepSeek-V4 config: sizes must be positive")
        }
        guard layerTypes.count == layers, mlpLayerTypes.count == layers else {
            throw SimulationError.invalid("DeepSeek-V4 config: layer_types and mlp_layer_types need \(layers) entries")
        }
        guard (heads * headDim) % oGroups == 0, expertsPerToken <= routedExperts else {
            throw SimulationError.invalid("DeepSeek-V4 config: o_groups must divide heads·head_dim, num_experts_per_tok ≤ n_routed_experts")
        }
    }
}

extension DeepSeekV4SimConfig: Decodable {
    private enum Keys: String, CodingKey {
        case vocab_size, hidden_size, moe_intermediate_size, num_hidden_layers, num_attention_heads, head_dim
        case qk_rope_head_dim, partial_rotary_factor, q_lora_rank, o_groups, o_lora_rank, n_routed_experts
        case n_shared_experts, num_experts_per_tok, scoring_func, index_n_heads, index_head_dim, index_topk
        case sliding_window, compress_rates, compress_rate_csa, compress_rate_hca, compress_ratios, hc_mult
        case hc_sinkhorn_iters, num_nextn_predict_layers, layer_types, mlp_layer_types, num_hash_layers
        case compressed_sparse_attention, heavily_compressed_attention, csa, hca
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let k = try decoder.container(keyedBy: Keys.self)
        func int(_ key: Keys, _ value: inout Int) throws {
            if let v = try k.decodeIfPresent(Int.self, forKey: key) { value = v }
        }
        try int(.vocab_size, &vocabSize); try int(.hidden_size, &hiddenSize)
        try int(.moe_intermediate_size, &moeIntermediateSize); try int(.num_hidden_layers, &layers)
        try int(.num_attention_heads, &heads); try int(.head_dim, &headDim); try int(.q_lora_rank, &qLoraRank)
        try int(.o_groups, &oGroups); try int(.o_lora_rank, &oLoraRank); try int(.n_routed_experts, &routedExperts)
        try int(.n_shared_experts, &sharedExperts); try int(.num_experts_per_tok, &expertsPerToken)
        try int(.index_n_heads, &indexHeads); try int(.index_head_dim, &indexHeadDim); try int(.index_topk, &indexTopK)
        try int(.sliding_window, &slidingWindow); try int(.hc_mult, &hcMult); try int(.hc_sinkhorn_iters, &hcSinkhornIters)
        try int(.num_nextn_predict_layers, &mtpLayers)
        try int(.compress_rate_csa, &csaRate); try int(.compress_rate_hca, &hcaRate)
        if let rates = try? k.nestedContainer(keyedBy: Keys.self, forKey: .compress_rates) {
            if let v = try rates.decodeIfPresent(Int.self, forKey: .compressed_sparse_attention) ?? rates.decodeIfPresent(Int.self, forKey: .csa) { csaRate = v }
            if let v = try rates.decodeIfPresent(Int.self, forKey: .heavily_compressed_attention) ?? rates.decodeIfPresent(Int.self, forKey: .hca) { hcaRate = v }
        }
        if let rope = try k.decodeIfPresent(Int.self, forKey: .qk_rope_head_dim) {
            ropeDim = rope
        } else if let factor = try k.decodeIfPresent(Double.self, forKey: .partial_rotary_factor) {
            ropeDim = Int((Double(headDim) * factor).rounded())
        }
        if let s = try k.decodeIfPresent(String.self, forKey: .scoring_func) { scoringFunc = s }
        layerTypes = try k.decodeIfPresent([V4AttentionType].self, forKey: .layer_types) ?? []
        mlpLayerTypes = try k.decodeIfPresent([V4MLPType].self, forKey: .mlp_layer_types) ?? []
        resolveSchedules(ratios: try k.decodeIfPresent([Int].self, forKey: .compress_ratios),
                         hashLayers: try k.decodeIfPresent(Int.self, forKey: .num_hash_layers) ?? 3)
    }
}

extension DeepSeekV4SimConfig {
    /// A built-in full-size V4 config by name, decoded from the published `config.json` keys:
    /// `deepseek-v4-flash` (deepseek-ai/DeepSeek-V4-Flash) and `deepseek-v4-pro` (deepseek-ai/DeepSeek-V4-Pro).
    public static func builtin(_ name: String) -> DeepSeekV4SimConfig? {
        let json: String
        switch name.lowercased() {
        case "deepseek-v4-flash", "deepseek-v4": json = v4FlashJSON
        case "deepseek-v4-pro": json = v4ProJSON
        default: return nil
        }
        return try? JSONDecoder().decode(DeepSeekV4SimConfig.self, from: Data(json.utf8))
    }

    /// The V4 config for a built-in name, or for a `config.json` path whose `model_type` is `deepseek_v4`;
    /// nil for anything else (another family's name or config).
    public static func resolve(_ nameOrPath: String) throws -> DeepSeekV4SimConfig? {
        if let c = builtin(nameOrPath) { return c }
        guard FileManager.default.fileExists(atPath: nameOrPath),
              let data = FileManager.default.contents(atPath: nameOrPath),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["model_type"] as? String == "deepseek_v4" else { return nil }
        let c = try JSONDecoder.decodeConfig(DeepSeekV4SimConfig.self, from: data)
        try c.validate()
        return c
    }
}

/// `compress_ratios` of the published configs: one entry per layer plus the MTP layer's (0, sliding).
private func ratios(first: [Int], layers: Int) -> String {
    let rest = (first.count..<layers).map { $0 % 2 == 0 ? 4 : 128 }
    return (first + rest + [0]).map(String.init).joined(separator: ",")
}

// deepseek-ai/DeepSeek-V4-Flash config.json (quantization_config, rope_scaling and token ids omitted):
// 43 layers, 2 sliding then CSA (even index) / HCA (odd index); 3 hash-routed MoE layers. Values as the
// published V4-Flash(-Base) config.json quoted in full in rtp-llm's DeepSeek-V4 unit tests; the shape
// fields equal transformers' DeepseekV4Config defaults.
private let v4FlashJSON = """
{"architectures":["DeepseekV4ForCausalLM"],"model_type":"deepseek_v4","vocab_size":129280,"hidden_size":4096,
"moe_intermediate_size":2048,"num_hidden_layers":43,"num_attention_heads":64,"num_key_value_heads":1,"head_dim":512,
"qk_rope_head_dim":64,"q_lora_rank":1024,"o_groups":8,"o_lora_rank":1024,"n_routed_experts":256,"n_shared_experts":1,
"num_experts_per_tok":6,"scoring_func":"sqrtsoftplus","routed_scaling_factor":1.5,"index_n_heads":64,
"index_head_dim":128,"index_topk":512,"sliding_window":128,"hc_mult":4,"hc_sinkhorn_iters":20,"hc_eps":1e-06,
"num_hash_layers":3,"num_nextn_predict_layers":1,"max_position_embeddings":1048576,"rope_theta":10000,
"compress_rope_theta":160000,"swiglu_limit":10.0,"compress_ratios":[\(ratios(first: [0, 0], layers: 43))]}
"""

// deepseek-ai/DeepSeek-V4-Pro config.json (same omissions): 61 layers, 2 HCA then CSA (even) / HCA (odd).
// transformers carries only hidden 7168, 128 heads, head_dim 512, o_groups 16, o_lora 1024 (docstrings); the
// rest (61 layers, q_lora 1536, 384 experts of 3072, index_topk 1024, routed_scaling 2.5, compress_ratios)
// is the published config.json as quoted verbatim in public deployment code, three independent copies agreeing.
private let v4ProJSON = """
{"architectures":["DeepseekV4ForCausalLM"],"model_type":"deepseek_v4","vocab_size":129280,"hidden_size":7168,
"moe_intermediate_size":3072,"num_hidden_layers":61,"num_attention_heads":128,"num_key_value_heads":1,"head_dim":512,
"qk_rope_head_dim":64,"q_lora_rank":1536,"o_groups":16,"o_lora_rank":1024,"n_routed_experts":384,"n_shared_experts":1,
"num_experts_per_tok":6,"scoring_func":"sqrtsoftplus","routed_scaling_factor":2.5,"index_n_heads":64,
"index_head_dim":128,"index_topk":1024,"sliding_window":128,"hc_mult":4,"hc_sinkhorn_iters":20,"hc_eps":1e-06,
"num_hash_layers":3,"num_nextn_predict_layers":1,"max_position_embeddings":1048576,"rope_theta":10000,
"compress_rope_theta":160000,"swiglu_limit":10.0,"compress_ratios":[\(ratios(first: [128, 128], layers: 61))]}
"""
