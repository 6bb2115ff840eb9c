import Foundation

/// `config.json` of `DeepseekV4ForCausalLM` (keys exactly as written there). Legacy spellings that older
/// checkpoints ship (`compress_ratios`, `compress_rate_csa`/`_hca`, `num_hash_layers`, `qk_rope_head_dim`,
/// a flat `rope_scaling`) are folded in by the resolved accessors below, as transformers does.
public struct DeepSeekV4Config: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int
    public var moe_intermediate_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var num_key_value_heads: Int?
    public var head_dim: Int
    public var q_lora_rank: Int
    public var partial_rotary_factor: Double?
    public var qk_rope_head_dim: Int?
    public var num_experts_per_tok: Int
    public var n_routed_experts: Int
    public var n_shared_experts: Int?
    public var scoring_func: String?
    public var routed_scaling_factor: Double?
    public var max_position_embeddings: Int
    public var rope_theta: Double?
    public var compress_rope_theta: Double?
    public var rope_parameters: RopeSettings?
    public var rope_scaling: RoPEParameters?
    public var layer_types: [String]?
    public var compress_ratios: [Int]?
    public var compress_rates: [String: Int]?
    public var compress_rate_csa: Int?
    public var compress_rate_hca: Int?
    public var mlp_layer_types: [String]?
    public var num_hash_layers: Int?
    public var hc_mult: Int
    public var hc_sinkhorn_iters: Int
    public var hc_eps: Double
    public var swiglu_limit: Double?
    public var sliding_window: Int
    public var o_groups: Int
    public var o_lora_rank: Int
    public var index_n_heads: Int
    public var index_head_dim: Int
    public var index_topk: Int
    public var num_nextn_predict_layers: Int?
    public var rms_norm_eps: Double?
    public var hidden_act: String?
    public var tie_word_embeddings: Bool?
    public var attention_bias: Bool?
    public var mlp_bias: Bool?

    /// `rope_parameters`: transformers writes `{main: …, compress: …}`; a flat object is the compressed
    /// branches' scaling (like `rope_scaling`).
    public struct RopeSettings: Codable, Sendable, Equatable {
        public var main: RoPEParameters?
        public var compress: RoPEParameters?
        public var flat: RoPEParameters?

        public init(from decoder: Decoder) throws {
            struct Nested: Codable { var main: RoPEParameters?; var compress: RoPEParameters? }
            let nested = try Nested(from: decoder)
            (main, compress) = (nested.main, nested.compress)
            flat = main == nil && compress == nil ? try RoPEParameters(from: decoder) : nil
        }

        public func encode(to encoder: Encoder) throws {
            if let flat { try flat.encode(to: encoder); return }
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(main, forKey: .main)
            try c.encodeIfPresent(compress, forKey: .compress)
        }

        enum CodingKeys: String, CodingKey { case main, compress }
    }

    /// The three attention layer types.
    public enum AttentionKind: String, Sendable, CaseIterable {
        case sliding = "sliding_attention"
        case compressedSparse = "compressed_sparse_attention"
        case heavilyCompressed = "heavily_compressed_attention"
    }

    /// How a layer's MoE picks experts.
    public enum RoutingKind: String, Sendable {
        case hash = "hash_moe"
        case topK = "moe"
    }

    public var eps: Float { Float(rms_norm_eps ?? 1e-6) }

    /// P: the trailing channels of each head that RoPE rotates.
    public var ropeDim: Int {
        if let f = partial_rotary_factor { return Int(Double(head_dim) * f) }
        return qk_rope_head_dim ?? 64
    }

    /// Per-layer attention type: `layer_types`, else legacy `compress_ratios` (0/4/128), else the V4-Pro
    /// schedule (two HCA layers, then CSA on odd and HCA on even indices).
    public func attentionKinds() throws -> [AttentionKind] {
        let n = num_hidden_layers
        if let names = layer_types {
            guard names.count >= n else { throw CheckpointError.invalid("layer_types has \(names.count) entries for \(n) layers") }
            return try names.prefix(n).map { name in
                guard let kind = AttentionKind(rawValue: name) else {
                    throw CheckpointError.unsupported("layer type '\(name)' (supported: \(AttentionKind.allCases.map(\.rawValue)))")
                }
                return kind
            }
        }
        if let ratios = compress_ratios {
            guard ratios.count >= n else { throw CheckpointError.invalid("compress_ratios has \(ratios.count) entries for \(n) layers") }
            return try ratios.prefix(n).map { r in
                switch r {
                case 0: return .sliding
                case 4: return .compressedSparse
                case 128: return .heavilyCompressed
                default: throw CheckpointError.unsupported("compress ratio \(r) (supported: 0, 4, 128)")
                }
            }
        }
        return (0..<n).map { i in i < 2 ? .heavilyCompressed : (i % 2 == 1 ? .compressedSparse : .heavilyCompressed) }
    }

    /// Tokens per compressed entry of a layer type (0 for sliding layers).
    public func compressRate(_ kind: AttentionKind) -> Int {
        switch kind {
        case .sliding: return 0
        case .compressedSparse: return compress_rate_csa ?? compress_rates?[kind.rawValue] ?? 4
        case .heavilyCompressed: return compress_rate_hca ?? compress_rates?[kind.rawValue] ?? 128
        }
    }

    /// Per-layer routing: `mlp_layer_types`, else the first `num_hash_layers` (3) hash-routed.
    public func routingKinds() throws -> [RoutingKind] {
        let n = num_hidden_layers
        if let names = mlp_layer_types {
            guard names.count >= n else { throw CheckpointError.invalid("mlp_layer_types has \(names.count) entries for \(n) layers") }
            return try names.prefix(n).map { name in
                guard let kind = RoutingKind(rawValue: name) else { throw CheckpointError.unsupported("mlp layer type '\(name)' (supported: hash_moe, moe)") }
                return kind
            }
        }
        let hashed = num_hash_layers ?? 3
        return (0..<n).map { $0 < hashed ? .hash : .topK }
    }

    /// RoPE of sliding layers (`main`): plain, base `rope_theta`.
    public var mainRoPE: RoPEParameters {
        if let main = rope_parameters?.main { return .resolve(parameters: main, scaling: nil, theta: rope_theta) }
        return RoPEParameters(rope_type: "default", rope_theta: rope_theta ?? 10_000)
    }

    /// RoPE of the compressed layers and their compressors (`compress`): base `compress_rope_theta`, with
    /// the checkpoint's scaling (YaRN); V4 never scales cos/sin by YaRN's mscale (attention_factor 1).
    public var compressRoPE: RoPEParameters {
        if let compress = rope_parameters?.compress { return .resolve(parameters: compress, scaling: nil, theta: compress_rope_theta) }
        var p = rope_parameters?.flat ?? rope_scaling ?? RoPEParameters()
        p.rope_type = p.rope_type ?? p.type ?? "default"
        p.rope_theta = compress_rope_theta ?? 160_000
        if p.rope_type == "yarn" && p.attention_factor == nil { p.attention_factor = 1 }
        return p
    }
}
