import Device
import Foundation

// T tokens, E hidden, X routed experts, K experts per token, F expert width

/// DeepSeek-V4's MoE layer: routed experts picked by a hash of the token id (the first layers) or by
/// top-k of the biased scores, each clamped SwiGLU (`swiglu_limit`), plus a shared expert.
/// Weights are the unbiased scores of the chosen experts, renormalised, × `routed_scaling_factor`.
struct V4MoE: @unchecked Sendable {
    enum Scoring: String { case sqrtsoftplus, softmax, sigmoid }
    enum Selection {
        case hash([Int])             // tid2eid [vocab, K]
        case topK(bias: [Float])     // e_score_correction_bias [X]
    }

    let device: any Device
    let gate: DeviceWeight           // [X, E]
    let scoring: Scoring
    let selection: Selection
    let topK: Int
    let scalingFactor: Float
    let experts: RoutedExperts
    let shared: DenseMLP?

    init(_ w: WeightLoader, prefix p: String, config c: DeepSeekV4Config, routing: DeepSeekV4Config.RoutingKind) throws {
        let (e, x, k, f) = (c.hidden_size, c.n_routed_experts, c.num_experts_per_tok, c.moe_intermediate_size)
        guard (c.hidden_act ?? "silu") == "silu" else { throw CheckpointError.unsupported("hidden_act '\(c.hidden_act!)'") }
        guard let scoring = Scoring(rawValue: c.scoring_func ?? "sqrtsoftplus") else {
            throw CheckpointError.unsupported("scoring_func '\(c.scoring_func!)' (supported: sqrtsoftplus, softmax, sigmoid)")
        }
        guard k > 0, k <= x else { throw CheckpointError.invalid("num_experts_per_tok \(k) with \(x) experts") }
        device = w.device
        (self.scoring, topK, scalingFactor) = (scoring, k, Float(c.routed_scaling_factor ?? 1))
        gate = try w.load("\(p).gate.weight", [x, e])
        switch routing {
        case .hash:
            let name = w.stored("\(p).gate.tid2eid")
            guard w.checkpoint.info(name)?.shape == [c.vocab_size, k] else {
                throw CheckpointError.invalid("'\(name)' must be [\(c.vocab_size), \(k)]")
            }
            let table = try w.checkpoint.integers(name)
            guard table.allSatisfy({ (0..<x).contains($0) }) else { throw CheckpointError.invalid("'\(name)' names an expert outside 0..<\(x)") }
            selection = .hash(table)
        case .topK:
            selection = .topK(bias: w.contains("\(p).gate.bias") ? try w.values("\(p).gate.bias", [x]) : [Float](repeating: 0, count: x))
        }
        let limit = c.swiglu_limit.map(Float.init)
        var routed = try RoutedExperts(w, prefix: "\(p).experts", count: x, hidden: e, width: f, names: ("w1", "w3", "w2"))
        routed.swigluLimit = limit
        experts = routed
        if (c.n_shared_experts ?? 1) > 0 {
            var mlp = try w.mlp("\(p).shared_experts", hidden: e, width: f * (c.n_shared_experts ?? 1), names: ("w1", "w3", "w2"))
            mlp.swigluLimit = limit
            shared = mlp
        } else {
            shared = nil
        }
    }

    /// y = Σ_k weight_k · expert_k(x) + shared(x). tokens: the ids of x's rows (hash routing).
    func callAsFunction(_ x: Matrix, tokens: [Int]) -> Matrix {
        var y = experts(x, routing: ExpertRouting(route(x, tokens: tokens)))   // [T, E]
        if let shared { device.add(&y, shared(x)) }
        return y
    }

    func route(_ x: Matrix, tokens: [Int]) -> [[ExpertChoice]] {
        let logits = device.matmul(x, gate)                       // [T, X]
        let scores: Matrix
        switch scoring {
        case .softmax: scores = device.softmax(logits)
        case .sigmoid: scores = device.sigmoid(logits)
        case .sqrtsoftplus: scores = Matrix(rows: logits.rows, cols: logits.cols, data: logits.data.map { Self.softplus($0).squareRoot() })
        }
        return (0..<x.rows).map { t in
            let row = scores.row(t)
            let picked: [Int]
            switch selection {
            case let .hash(table): picked = Array(table[(tokens[t] * topK)..<((tokens[t] + 1) * topK)])
            case let .topK(bias): picked = MoEGate.topIndices(zip(row, bias).map(+), topK)
            }
            let total = picked.reduce(Float(0)) { $0 + row[$1] } + 1e-20
            return picked.map { ExpertChoice(expert: $0, weight: row[$0] / total * scalingFactor) }.sorted { $0.expert < $1.expert }
        }
    }

    /// log(1 + eˣ), linear above 20 as torch's softplus.
    static func softplus(_ x: Float) -> Float { x > 20 ? x : Foundation.log1p(Foundation.exp(x)) }
}
