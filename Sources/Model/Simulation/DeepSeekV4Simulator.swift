import Device

/// Attention cost and KV-cache size of one DeepSeek-V4 layer type in a simulated step.
public struct V4AttentionSummary: Sendable {
    public var type: V4AttentionType
    public var layers: Int
    /// Keys each query attends to (decode: at the plan's context; prefill: mean over the prompt).
    public var keysPerQuery: Double
    /// Per layer, whole step (all micro-batches): the attention block (projections, compressor, indexer,
    /// core attention, output projection) and its parts.
    public var attentionTime: Double
    public var coreTime: Double
    public var compressorTime: Double
    public var indexerTime: Double
    /// KV-cache bytes one sequence holds in one layer of this type at the plan's context.
    public var kvBytesPerSequence: Double
    /// Bytes each further token adds once the window is full: 0 (sliding), D/m′ (HCA), (D + Di)/m (CSA), × bytes.
    public var kvBytesPerTokenGrowth: Double
}

/// A V4 simulation: the step (`result`, same shape as the V2/V3 one) plus the per-layer-type view.
public struct DeepSeekV4SimulationResult: Sendable {
    public var config: DeepSeekV4SimConfig
    public var result: SimulationResult
    public var attention: [V4AttentionSummary]

    /// Whole-model KV bytes per sequence at the plan's context, and per cached token.
    public var kvBytesPerSequence: Double { attention.reduce(0) { $0 + Double($1.layers) * $1.kvBytesPerSequence } }
    public var kvBytesPerToken: Double { kvBytesPerSequence / Double(max(result.plan.context, 1)) }
    /// Whole-model growth per token beyond the window: Σ over layers of the type's growth.
    public var kvBytesPerTokenGrowth: Double { attention.reduce(0) { $0 + Double($1.layers) * $1.kvBytesPerTokenGrowth } }
}

/// Timing-only simulation of DeepSeek-V4 (per-layer attention types, hyper-connections, hash/top-k MoE).
public enum DeepSeekV4Simulator {
    public static func run(config c: DeepSeekV4SimConfig, plan: SimulationPlan, profile: AscendProfile) throws -> DeepSeekV4SimulationResult {
        try c.validate()
        try plan.validate(heads: c.heads)
        guard c.oGroups % plan.tp == 0 else {
            throw SimulationError.invalid("tp \(plan.tp) must divide o_groups \(c.oGroups)")
        }
        let model = plan.costModel(profile)
        let b = DeepSeekV4OpBuilder(c: c, plan: plan, model: model)
        let mb = plan.microBatches
        let seqs = (plan.batch + mb - 1) / mb
        let computed = plan.phase == .prefill ? Int(Double(plan.context) * (1 - plan.prefixHitRate)) : b.queries
        let tokens = seqs * max(computed, 1)
        func group(_ name: String, _ count: Int, _ ops: [OpCost]) -> LayerGroup {
            LayerGroup(name: name, count: count, microBatches: mb, ops: ops)
        }
        var groups = [group("embedding", 1, b.embedding(tokens: tokens))]
        var kinds: [(V4AttentionType, V4MLPType)] = []
        for (t, m) in zip(c.layerTypes, c.mlpLayerTypes) where !kinds.contains(where: { $0 == (t, m) }) { kinds.append((t, m)) }
        for (t, m) in kinds {
            let count = zip(c.layerTypes, c.mlpLayerTypes).filter { $0 == (t, m) }.count
            groups.append(group("\(t.shortName)+\(m == .hash ? "hash" : "topk")", count, b.layer(t, m, seqs: seqs, tokens: tokens)))
        }
        groups.append(group("head", 1, b.head(logits: plan.phase == .decode ? tokens : seqs)))
        if plan.phase == .decode && plan.mtp { groups.append(group("mtp", 1, b.mtpModule(seqs: seqs))) }
        let summaries = V4AttentionType.allCases.compactMap { t -> V4AttentionSummary? in
            let n = c.count(t)
            return n > 0 ? summary(t, layers: n, builder: b, seqs: seqs, tokens: tokens, microBatches: mb) : nil
        }
        let memory = memoryBudget(config: c, plan: plan, tokens: tokens * mb)
        try memory.check(against: profile)
        let result = SimulationResult(plan: plan, profile: profile, groups: groups, memory: memory)
        return DeepSeekV4SimulationResult(config: c, result: result, attention: summaries)
    }

    static func summary(_ t: V4AttentionType, layers: Int, builder b: DeepSeekV4OpBuilder, seqs: Int, tokens: Int,
                        microBatches mb: Int) -> V4AttentionSummary {
        let ops = b.attention(t, seqs: seqs, tokens: tokens)
        func time(_ prefix: String) -> Double {
            Double(mb) * ops.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.total }
        }
        let plan = b.plan
        return V4AttentionSummary(type: t, layers: layers, keysPerQuery: b.coreShape(t, seqs: 1, queries: tokens / max(seqs, 1)).keysPerQuery,
                                  attentionTime: Double(mb) * ops.reduce(0) { $0 + $1.total },
                                  coreTime: time("attn.core"), compressorTime: time("compressor."), indexerTime: time("indexer."),
                                  kvBytesPerSequence: kvBytes(t, config: b.c, context: plan.context, kv: plan.kvType),
                                  kvBytesPerTokenGrowth: kvGrowth(t, config: b.c, kv: plan.kvType))
    }

    /// KV-cache bytes of one sequence in one layer of type `t` after `context` tokens:
    /// - sliding: min(C, W)·D
    /// - HCA: min(C, W)·D + ⌊C/m′⌋·D + 2m′·2D (raw kv and gate of the open windows, a bound)
    /// - CSA: min(C, W)·D + ⌊C/m⌋·(D + Di) + 2m·(4D + 4Di) (raw kv/gate of the overlapping windows, a bound)
    /// all × bytes(kv).
    public static func kvBytes(_ t: V4AttentionType, config c: DeepSeekV4SimConfig, context: Int, kv: ElementType) -> Double {
        let d = c.headDim, di = c.indexHeadDim, window = min(context, c.slidingWindow) * d
        let elements: Int
        switch t {
        case .sliding: elements = window
        case .hca: elements = window + context / c.hcaRate * d + 2 * c.hcaRate * 2 * d
        case .csa: elements = window + context / c.csaRate * (d + di) + 2 * c.csaRate * (4 * d + 4 * di)
        }
        return Double(elements) * kv.bytes
    }

    /// Bytes per further token once the window is full: 0, D/m′, (D + Di)/m, × bytes(kv).
    public static func kvGrowth(_ t: V4AttentionType, config c: DeepSeekV4SimConfig, kv: ElementType) -> Double {
        switch t {
        case .sliding: return 0
        case .hca: return Double(c.headDim) / Double(c.hcaRate) * kv.bytes
        case .csa: return Double(c.headDim + c.indexHeadDim) / Double(c.csaRate) * kv.bytes
        }
    }
}
