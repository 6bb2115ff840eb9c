import Foundation

/// Bounds on the `config.json` fields every family shares, checked before a config is decoded: a zero, negative,
/// fractional or absurd size made the model build divide by zero, trap on an overflow or a negative count,
/// allocate terabytes (V4's per-layer tables for 2^40 layers), or load and then serve garbage with 200s
/// (`num_experts_per_tok` above the expert count). Each field is checked when present and not null.
enum ConfigSanity {
    static let bounds: [(key: String, range: ClosedRange<Int>)] = [
        ("num_hidden_layers", 1...1_000), ("hidden_size", 1...(1 << 20)), ("vocab_size", 1...(1 << 24)),
        ("num_attention_heads", 1...(1 << 14)), ("num_key_value_heads", 1...(1 << 14)), ("head_dim", 1...(1 << 16)),
        ("intermediate_size", 1...(1 << 22)), ("moe_intermediate_size", 1...(1 << 22)),
        ("shared_expert_intermediate_size", 0...(1 << 22)), ("max_position_embeddings", 1...(1 << 26)),
        ("n_routed_experts", 1...(1 << 16)), ("num_experts", 1...(1 << 16)), ("num_local_experts", 1...(1 << 16)),
        ("num_experts_per_tok", 1...(1 << 16)), ("n_shared_experts", 0...(1 << 10)),
        ("kv_lora_rank", 1...(1 << 16)), ("q_lora_rank", 1...(1 << 16)), ("qk_nope_head_dim", 1...(1 << 16)),
        ("qk_rope_head_dim", 1...(1 << 16)), ("v_head_dim", 1...(1 << 16)), ("first_k_dense_replace", 0...1_000),
        ("n_group", 1...(1 << 16)), ("topk_group", 1...(1 << 16)), ("index_topk", 1...(1 << 24)),
        ("index_n_heads", 1...(1 << 14)), ("index_head_dim", 1...(1 << 16)),
    ]

    /// A top-level value, as far as these checks need it.
    private enum Value: Decodable {
        case integer(Int), number(Double), other(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .other("null") }
            else if let b = try? c.decode(Bool.self) { self = .other(String(b)) }
            else if let i = try? c.decode(Int.self) { self = .integer(i) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .other("'\(s)'") }
            else { self = .other("a list or an object") }
        }
    }

    static func check(_ data: Data) throws {
        guard let object = try? JSONDecoder().decode([String: Value].self, from: data) else { return }   // the decoder says why
        func integer(_ key: String) throws -> Int? {
            switch object[key] {
            case nil, .other("null")?: return nil
            case let .integer(i)?: return i
            case let .number(d)?: throw CheckpointError.invalid("config.json key '\(key)' must be an integer, got \(d)")
            case let .other(what)?: throw CheckpointError.invalid("config.json key '\(key)' must be an integer, got \(what)")
            }
        }
        // Positive finite reals: a zero RoPE base or a negative norm epsilon makes every logit NaN.
        for key in ["rms_norm_eps", "rope_theta", "layer_norm_eps"] {
            let value: Double
            switch object[key] {
            case nil, .other("null")?: continue
            case let .integer(i)?: value = Double(i)
            case let .number(d)?: value = d
            case let .other(what)?: throw CheckpointError.invalid("config.json key '\(key)' must be a positive number, got \(what)")
            }
            guard value > 0, value.isFinite else { throw CheckpointError.invalid("config.json key '\(key)' must be a positive number, got \(value)") }
        }
        var values: [String: Int] = [:]
        for (key, range) in bounds {
            guard let v = try integer(key) else { continue }
            guard range.contains(v) else {
                throw CheckpointError.invalid("config.json key '\(key)' is \(v); it must be in \(range.lowerBound)...\(range.upperBound)")
            }
            values[key] = v
        }
        if let k = values["num_experts_per_tok"], let experts = values["n_routed_experts"] ?? values["num_local_experts"] ?? values["num_experts"],
           k > experts {
            throw CheckpointError.invalid("config.json: num_experts_per_tok \(k) is more than the \(experts) experts")
        }
        if let dense = values["first_k_dense_replace"], let layers = values["num_hidden_layers"], dense > layers {
            throw CheckpointError.invalid("config.json: first_k_dense_replace \(dense) is more than the \(layers) layers")
        }
        if let groups = values["topk_group"], let n = values["n_group"], groups > n {
            throw CheckpointError.invalid("config.json: topk_group \(groups) is more than n_group \(n)")
        }
    }
}
