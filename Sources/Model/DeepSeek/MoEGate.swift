import Device

// T tokens, E hidden, X routed experts, K experts per token

/// One routed expert chosen for a token, with the weight its output is scaled by.
struct ExpertChoice: Equatable {
    let expert: Int
    let weight: Float
}

/// Every token's chosen experts as two flat lists: token t's `perToken` choices at t·K ..< (t+1)·K, in
/// ascending expert order (the order their outputs are summed in). The router fills them from the
/// thread's pools, so a decode step's routing allocates nothing.
struct ExpertRouting {
    let perToken: Int
    let experts: [Int]
    let weights: [Float]

    var tokens: Int { perToken == 0 ? 0 : experts.count / perToken }

    init(perToken: Int, experts: [Int], weights: [Float]) {
        precondition(experts.count == weights.count && (perToken == 0 ? experts.isEmpty : experts.count % perToken == 0),
                     "ExpertRouting: \(experts.count) experts, \(weights.count) weights, \(perToken) per token")
        (self.perToken, self.experts, self.weights) = (perToken, experts, weights)
    }

    /// From per-token lists (tests, DeepSeek-V4's router), each of `perToken` choices.
    init(_ choices: [[ExpertChoice]]) {
        let k = choices.first?.count ?? 0
        precondition(choices.allSatisfy { $0.count == k }, "ExpertRouting: every token needs the same number of choices")
        self.init(perToken: k, experts: choices.flatMap { $0.map(\.expert) }, weights: choices.flatMap { $0.map(\.weight) })
    }

    /// Token t's choices.
    subscript(t: Int) -> [ExpertChoice] {
        (t * perToken..<((t + 1) * perToken)).map { ExpertChoice(expert: experts[$0], weight: weights[$0]) }
    }
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

    /// Each token's chosen experts.
    func route(_ x: Matrix) -> ExpertRouting {
        route(logits: device.matmul(x, weight))                                            // [T, X]
    }

    /// The same from the router logits x · Wᵀ, for a caller that computed them alongside other projections.
    func route(logits: Matrix) -> ExpertRouting {
        let scores = scoring == .sigmoid ? device.sigmoid(logits) : device.softmax(logits)   // [T, X]
        let (t, x, k) = (logits.rows, logits.cols, min(topK, logits.cols))
        let pools = ArrayPools.current
        var weights: [Float] = []
        let experts = pools.takeInts(count: t * k) { ex in
            weights = pools.takeFloats(count: t * k) { w in
                scores.data.withUnsafeBufferPointer { s in
                    pools.withFloatScratch(count: x + groups) { choice in          // a token's biased scores, then the group ranks
                        pools.withIntScratch(count: max(topK, topKGroups, 2) + 1) { top in
                            for token in 0..<t {
                                choose(s.baseAddress! + token * x, count: x, choice: choice, top: top, experts: ex + token * k, weights: w + token * k)
                            }
                        }
                    }
                }
            }
        }
        return ExpertRouting(perToken: k, experts: experts, weights: weights)
    }

    /// One token's K choices into `experts`/`weights` (ascending expert order), from its X scores. `choice`
    /// holds X + groups floats and `top` K + 1 indices of scratch. The same arithmetic, in the same order,
    /// as the per-token lists this replaced (sums of picked scores in rank order).
    private func choose(_ scores: UnsafePointer<Float>, count x: Int, choice: UnsafeMutablePointer<Float>, top: UnsafeMutablePointer<Int>,
                        experts: UnsafeMutablePointer<Int>, weights: UnsafeMutablePointer<Float>) {
        choice.update(from: scores, count: x)
        if let selectionBias { for i in 0..<x { choice[i] += selectionBias[i] } }
        if groups > 1 { maskGroups(choice, count: x, ranks: choice + x, top: top) }
        let k = Self.topIndices(UnsafeBufferPointer(start: choice, count: x), topK, into: top)
        var total: Float = 0
        if normalize { for j in 0..<k { total += scores[top[j]] } }
        for j in 0..<k {
            let weight = (normalize ? scores[top[j]] / total : scores[top[j]]) * scalingFactor
            // Insertion by expert: K is small.
            var at = j
            while at > 0 && experts[at - 1] > top[j] {
                (experts[at], weights[at]) = (experts[at - 1], weights[at - 1])
                at -= 1
            }
            (experts[at], weights[at]) = (top[j], weight)
        }
    }

    /// Sets every expert outside the `topKGroups` best groups to −∞ (`ranks`: `groups` floats of scratch).
    private func maskGroups(_ choice: UnsafeMutablePointer<Float>, count x: Int, ranks: UnsafeMutablePointer<Float>,
                            top: UnsafeMutablePointer<Int>) {
        let size = x / groups
        for g in 0..<groups {
            let members = UnsafeBufferPointer(start: choice + g * size, count: size)
            switch groupScore {
            case .max: ranks[g] = members.max() ?? -.infinity
            case .sumOfTop2:
                let n = Self.topIndices(members, 2, into: top)
                var sum: Float = 0
                for j in 0..<n { sum += members[top[j]] }
                ranks[g] = sum
            }
        }
        let kept = Self.topIndices(UnsafeBufferPointer(start: ranks, count: groups), topKGroups, into: top)
        for g in 0..<groups where !(0..<kept).contains(where: { top[$0] == g }) {
            for i in (g * size)..<((g + 1) * size) { choice[i] = -.infinity }
        }
    }

    /// Indices of the k largest values (ties: lower index first).
    static func topIndices(_ values: [Float], _ k: Int) -> [Int] {
        values.withUnsafeBufferPointer { v in
            [Int](unsafeUninitializedCapacity: k + 1) { top, n in n = topIndices(v, k, into: top.baseAddress!) }
        }
    }

    /// `topIndices` into `top` (room for k + 1), returning how many (min(k, count)). A router's few choices
    /// (k ≤ 16 of 64–256 experts, per token and layer) by insertion into a short list instead of sorting
    /// every index; more go through `sortedTopIndices` (an allocation, for configurations no model uses).
    static func topIndices(_ values: UnsafeBufferPointer<Float>, _ k: Int, into top: UnsafeMutablePointer<Int>) -> Int {
        guard k <= 16 else {
            let sorted = sortedTopIndices(Array(values), k)
            for (j, i) in sorted.enumerated() { top[j] = i }
            return sorted.count
        }
        let k = min(k, values.count)
        var n = 0
        for i in values.indices {
            let v = values[i]
            if n == k && !(k > 0 && v > values[top[k - 1]]) { continue }   // a tie keeps the earlier index
            var j = n
            while j > 0 && v > values[top[j - 1]] { top[j] = top[j - 1]; j -= 1 }
            top[j] = i
            if n < k { n += 1 }
        }
        return n
    }

    /// topIndices by sorting every index (the reference the insertion form is tested against).
    static func sortedTopIndices(_ values: [Float], _ k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
    }
}
