import Device

// T tokens, E hidden, X routed experts, K experts per token

/// One routed expert chosen for a token, with the weight its output is scaled by.
struct ExpertChoice: Equatable {
    let expert: Int
    let weight: Float
}

/// The router: scores every expert, optionally keeps only the best expert groups, picks the top K,
/// renormalises and scales.
///
/// DeepSeek-V3: sigmoid scores; a learned bias (`e_score_correction_bias`) is added for *selection only*;
/// groups ranked by the sum of their top-2 biased scores, `topk_group` kept; weights are the unbiased
/// scores of the chosen experts, renormalised, × `routed_scaling_factor`. DeepSeek-V2: softmax scores,
/// groups ranked by their best score (`group_limited_greedy`). Mixtral, Qwen-MoE and OLMoE are the
/// special case of softmax, one group, no bias.
struct MoEGate: @unchecked Sendable {
    enum Scoring { case sigmoid, softmax }
    enum GroupScore { case sumOfTop2, max }

    let device: any Device
    let weight: DeviceWeight                // [X, E]
    let selectionBias: [Float]?             // [X]
    let scoring: Scoring
    let topK: Int
    let groups: Int
    let topKGroups: Int
    let groupScore: GroupScore
    let normalize: Bool
    let scalingFactor: Float

    /// Each token's chosen experts, in ascending expert order (the order their outputs are summed in).
    func route(_ x: Matrix) -> [[ExpertChoice]] {
        route(logits: device.matmul(x, weight))                                            // [T, X]
    }

    /// The same from the router logits x · Wᵀ, for a caller that computed them alongside other projections.
    func route(logits: Matrix) -> [[ExpertChoice]] {
        let scores = scoring == .sigmoid ? device.sigmoid(logits) : device.softmax(logits)   // [T, X]
        return (0..<logits.rows).map { choose(scores.row($0)) }
    }

    private func choose(_ scores: [Float]) -> [ExpertChoice] {
        var choice = scores
        if let selectionBias { for i in choice.indices { choice[i] += selectionBias[i] } }
        if groups > 1 { maskGroups(&choice) }
        let picked = Self.topIndices(choice, topK)
        var weights = picked.map { scores[$0] }
        if normalize {
            let total = weights.reduce(0, +)
            weights = weights.map { $0 / total }
        }
        return zip(picked, weights).map { ExpertChoice(expert: $0, weight: $1 * scalingFactor) }.sorted { $0.expert < $1.expert }
    }

    /// Sets every expert outside the `topKGroups` best groups to −∞.
    private func maskGroups(_ choice: inout [Float]) {
        let size = choice.count / groups
        let ranks = (0..<groups).map { g -> Float in
            let members = choice[(g * size)..<((g + 1) * size)]
            switch groupScore {
            case .max: return members.max() ?? -.infinity
            case .sumOfTop2: return Self.topIndices(Array(members), 2).reduce(0) { $0 + members[members.startIndex + $1] }
            }
        }
        let kept = Set(Self.topIndices(ranks, topKGroups))
        for g in 0..<groups where !kept.contains(g) {
            for i in (g * size)..<((g + 1) * size) { choice[i] = -.infinity }
        }
    }

    /// Indices of the k largest values (ties: lower index first).
    static func topIndices(_ values: [Float], _ k: Int) -> [Int] {
        // A router's few choices (k ≤ 16 of 64–256 experts, per token and layer) by insertion into a short
        // list instead of sorting every index; an indexer's thousands by sorting.
        guard k <= 16 else { return sortedTopIndices(values, k) }
        let k = min(k, values.count)
        var top: [Int] = []
        top.reserveCapacity(k + 1)
        for i in values.indices {
            let v = values[i]
            if top.count == k && !(k > 0 && v > values[top[k - 1]]) { continue }   // a tie keeps the earlier index
            var j = top.count
            while j > 0 && v > values[top[j - 1]] { j -= 1 }
            top.insert(i, at: j)
            if top.count > k { top.removeLast() }
        }
        return top
    }

    /// topIndices by sorting every index (the reference the insertion form is tested against).
    static func sortedTopIndices(_ values: [Float], _ k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
    }
}
