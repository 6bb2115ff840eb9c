import Foundation

/// Candidate tokens during sampling: ids with their logits, shrunk by each processor in turn.
public struct Candidates: Sendable {
    public var ids: [Int]
    public var logits: [Float]
    /// True once sorted by descending logit (top-k/top-p sort once and later steps reuse it).
    public var sorted = false

    public init(logits: [Float]) {
        ids = Array(logits.indices)
        self.logits = logits
    }

    mutating func sortDescending() {
        guard !sorted else { return }
        let order = ids.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && ids[$0] < ids[$1]) }
        ids = order.map { ids[$0] }
        logits = order.map { logits[$0] }
        sorted = true
    }

    /// Softmax of the current logits (max-subtracted, fp32). Total for any logits: +∞ logits share all the
    /// mass (the limit of the softmax), NaN logits get none, and if every logit is −∞ or NaN the mass is uniform.
    func probabilities() -> [Float] {
        let m = logits.lazy.filter { !$0.isNaN }.max() ?? -.infinity
        if m == .infinity { return normalized(logits.map { $0 == .infinity ? 1 : 0 }) }
        guard m.isFinite else { return [Float](repeating: 1 / Float(max(1, logits.count)), count: logits.count) }
        return normalized(logits.map { $0.isNaN ? 0 : Foundation.exp($0 - m) })
    }

    private func normalized(_ weights: [Float]) -> [Float] {
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }
}

/// One step of the logits-processor chain.
public protocol LogitsProcessor: Sendable {
    func process(_ c: inout Candidates)
}

/// Divides logits by the temperature (> 0; 0 is handled as greedy before the chain runs). The largest logit is
/// subtracted first, which changes no probability and keeps a tiny temperature from overflowing every logit
/// to +∞ (1e-40: the others go to −∞, the greedy limit).
public struct Temperature: LogitsProcessor {
    public let value: Float
    public func process(_ c: inout Candidates) {
        guard value != 1, let m = c.logits.max(), m.isFinite else { return }
        for i in c.logits.indices { c.logits[i] = (c.logits[i] - m) / value }
    }
}

/// Keeps the k most likely tokens.
public struct TopK: LogitsProcessor {
    public let k: Int
    public func process(_ c: inout Candidates) {
        guard k > 0, k < c.ids.count else { return }
        if !c.sorted, k <= 256 {
            // Select the k best without sorting the vocabulary (same order: logit, then the earlier candidate).
            let best = Sampler.best(c.logits.map { $0.isNaN ? -.infinity : $0 }, count: k)
            c.ids = best.map { c.ids[$0] }
            c.logits = best.map { c.logits[$0] }
            c.sorted = true
            return
        }
        c.sortDescending()
        c.ids.removeSubrange(k...)
        c.logits.removeSubrange(k...)
    }
}

/// Keeps the smallest prefix of tokens (by probability) whose mass reaches p; always at least one.
public struct TopP: LogitsProcessor {
    public let p: Float
    public func process(_ c: inout Candidates) {
        guard p < 1 else { return }
        guard let (m, total) = Self.normaliser(c.logits) else {
            // +∞ or no finite logit: the total softmax decides.
            c.sortDescending()
            var mass: Float = 0
            var keep = c.ids.count
            for (i, q) in c.probabilities().enumerated() {
                mass += q
                if mass >= p { keep = i + 1; break }
            }
            c.ids.removeSubrange(keep...)
            c.logits.removeSubrange(keep...)
            return
        }
        // Sorting 49k tokens each step halved the decode rate of requests with top_p: sort only the tokens
        // within e^16 of the most likely one. Every token left out is less likely than every token sorted, so
        // when the sorted ones reach the mass (normalised over all tokens) the nucleus is the full sort's.
        var order = c.sorted ? Array(c.ids.indices) : c.logits.indices.filter { c.logits[$0] >= m - 16 }
        if !c.sorted { order.sort { c.logits[$0] > c.logits[$1] || (c.logits[$0] == c.logits[$1] && c.ids[$0] < c.ids[$1]) } }
        var keep = Self.nucleus(order, c.logits, p: p, m: m, total: total)
        if keep == nil, !c.sorted {
            c.sortDescending()
            order = Array(c.ids.indices)
            keep = Self.nucleus(order, c.logits, p: p, m: m, total: total)
        }
        let kept = order.prefix(keep ?? order.count)
        c.ids = kept.map { c.ids[$0] }
        c.logits = kept.map { c.logits[$0] }
        c.sorted = true
    }

    /// The largest finite logit and Σ exp(logit − max) over all tokens (NaN counts nothing); nil for +∞ logits or
    /// none finite. Summed in Double, so the order of the sum does not move the nucleus's edge.
    static func normaliser(_ logits: [Float]) -> (Float, Double)? {
        let m = logits.lazy.filter { !$0.isNaN }.max() ?? -.infinity
        guard m.isFinite else { return nil }
        var total: Double = 0
        for l in logits where !l.isNaN { total += Foundation.exp(Double(l - m)) }
        return (m, total)
    }

    /// How many of `order` (most likely first) reach the mass p, or nil if all of them together do not.
    static func nucleus(_ order: [Int], _ logits: [Float], p: Float, m: Float, total: Double) -> Int? {
        var mass: Double = 0
        for (n, i) in order.enumerated() {
            mass += Foundation.exp(Double(logits[i] - m)) / total
            if mass >= Double(p) { return n + 1 }
        }
        return nil
    }
}

/// Keeps tokens whose probability is at least `p` × the most likely token's.
public struct MinP: LogitsProcessor {
    public let p: Float
    public func process(_ c: inout Candidates) {
        guard p > 0, let top = c.logits.max() else { return }
        // p_i ≥ p · p_max  ⇔  logit_i ≥ logit_max + ln p
        let floor = top + Foundation.log(p)
        var ids: [Int] = [], logits: [Float] = []
        for (i, l) in c.logits.enumerated() where l >= floor { ids.append(c.ids[i]); logits.append(l) }
        c.ids = ids
        c.logits = logits
    }
}

/// Penalties on the raw logits from what the request has seen: repetition (prompt and output,
/// divides positive logits and multiplies negative ones), presence and frequency (output only, OpenAI's).
struct Penalties: Sendable {
    let repetition: Float
    let presence: Float
    let frequency: Float
    let bias: [Int: Float]

    var isActive: Bool { repetition != 1 || presence != 0 || frequency != 0 || !bias.isEmpty }

    func apply(_ logits: inout [Float], history: [Int], generated: [Int]) {
        for (id, b) in bias where id >= 0 && id < logits.count { logits[id] += b }
        if repetition != 1 {
            for id in Set(history).union(generated) where id >= 0 && id < logits.count {
                // Saturating: a tiny penalty (1e-40) would overflow to +∞, and ∞ − ∞ in the softmax is NaN.
                let v = logits[id] > 0 ? logits[id] / repetition : logits[id] * repetition
                logits[id] = min(max(v, -.greatestFiniteMagnitude), .greatestFiniteMagnitude)
            }
        }
        if presence != 0 || frequency != 0 {
            var counts: [Int: Int] = [:]
            for id in generated { counts[id, default: 0] += 1 }
            for (id, n) in counts where id >= 0 && id < logits.count {
                logits[id] -= presence + frequency * Float(n)
            }
        }
    }
}

/// Picks the next token from a row of logits according to `SamplingParams`.
public struct Sampler: Sendable {
    let processors: [any LogitsProcessor]
    let penalties: Penalties
    let greedy: Bool
    var rng: SplitMix64

    public init(params: SamplingParams) {
        greedy = params.temperature == 0
        var chain: [any LogitsProcessor] = [Temperature(value: params.temperature)]
        if params.topK > 0 { chain.append(TopK(k: params.topK)) }
        if params.topP < 1 { chain.append(TopP(p: params.topP)) }
        if params.minP > 0 { chain.append(MinP(p: params.minP)) }
        processors = chain
        penalties = Penalties(repetition: params.repetitionPenalty, presence: params.presencePenalty,
                              frequency: params.frequencyPenalty, bias: params.logitBias)
        rng = SplitMix64(seed: params.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Samples after applying the penalties that depend on the request's tokens so far.
    public mutating func sample(_ logits: [Float], history: [Int], generated: [Int]) -> Int {
        guard penalties.isActive else { return sample(logits) }
        var l = logits
        penalties.apply(&l, history: history, generated: generated)
        return sample(l)
    }

    /// Argmax with the lowest id winning ties, so greedy output is reproducible.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }

    /// Samples among the tokens `output` allows, as if every other logit were −∞ before the processors run
    /// (vLLM's order: penalties, the grammar's mask, then temperature and truncation). Cheap paths first: greedy
    /// takes the best allowed of the 32 most likely tokens, and plain sampling (no top-k/top-p/min-p) draws and
    /// redraws without the rejected token, which is exactly sampling from the allowed ones; only when those
    /// fail, or truncation needs the allowed set, is every token checked. nil when no token is allowed.
    mutating func sample(_ logits: [Float], history: [Int], generated: [Int], output: inout StructuredOutput) -> Int? {
        var l = logits
        if penalties.isActive { penalties.apply(&l, history: history, generated: generated) }
        for i in l.indices where l[i].isNaN { l[i] = -.infinity }
        if greedy {
            for id in Self.best(l, count: 32) where output.allows(id) { return id }
        } else if processors.count == 1 {
            var rest = l
            for _ in 0..<32 {
                let id = sample(rest)
                guard rest[id] > -.infinity else { break }
                if output.allows(id) { return id }
                rest[id] = -.infinity
            }
        }
        let mask = output.mask(count: l.count)
        guard let first = mask.firstIndex(of: true) else { return nil }
        var best = first
        for i in l.indices where mask[i] && l[i] > l[best] { best = i }
        if greedy || l[best] == -.infinity { return best }
        for i in l.indices where !mask[i] { l[i] = -.infinity }
        let id = sample(l)
        return mask[id] ? id : best
    }

    /// The `count` largest logits' ids, largest first, the lower id first among equals.
    static func best(_ logits: [Float], count: Int) -> [Int] {
        var top: [Int] = []
        top.reserveCapacity(count + 1)
        for (i, l) in logits.enumerated() where top.count < count || l > logits[top[top.count - 1]] {
            let pos = top.firstIndex { l > logits[$0] } ?? top.count
            top.insert(i, at: pos)
            if top.count > count { top.removeLast() }
        }
        return top
    }

    public mutating func sample(_ logits: [Float]) -> Int {
        if greedy { return Self.argmax(logits) }
        var c = Candidates(logits: logits)
        for p in processors { p.process(&c) }
        let probs = c.probabilities()
        let u = rng.nextUnitFloat()
        var acc: Float = 0
        for (i, q) in probs.enumerated() {
            acc += q
            if u < acc { return c.ids[i] }
        }
        return c.ids[probs.count - 1]
    }
}
