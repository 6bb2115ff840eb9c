import Device

extension DeepSeekV4Simulator {
    /// HBM per chip for DeepSeek-V4.
    /// Weights (linear type unless noted): per layer attention q_a/kv [E, Q + D], q_b [Q, Ha·D], o_a
    /// (g/tp groups of [R, H·D/g]), o_b [E, (g/tp)·R]; compressor kv+gate [E, 2D] (HCA) or [E, 4D] (CSA);
    /// CSA indexer compressor [E, 4Di], q_b [Q, Hi·Di], weights_proj [E, Hi]; two hyper-connections
    /// [(2+N)·N, N·E] fp32; MoE local + shared experts 3·E·F, router [X, E] bf16, hash table vocab·K int64
    /// (hash layers). Embedding and LM head bf16, hyper head fp32, the MTP layer (sliding, routed) and its
    /// e/h projection. KV: batch·tp sequences (the single KV head is replicated over TP) × Σ layers
    /// `kvBytes`. Workspace [assumption]: 2 GB runtime/collective buffers + 16 N-stream activations and
    /// fp32 logits per token.
    public static func memoryBudget(config c: DeepSeekV4SimConfig, plan: SimulationPlan, tokens: Int) -> MemoryBudget {
        let e = Double(c.hiddenSize), d = Double(c.headDim), q = Double(c.qLoraRank), wb = plan.linear.bytes
        let ha = Double(c.heads / plan.tp), groups = Double(max(1, c.oGroups / plan.tp)), r = Double(c.oLoraRank)
        let di = Double(c.indexHeadDim), hi = Double(c.indexHeads), n = Double(c.hcMult)
        let attention = (e * (q + d) + q * ha * d + groups * r * Double(c.heads * c.headDim / c.oGroups) + e * groups * r) * wb
        func compressor(_ t: V4AttentionType) -> Double {
            switch t {
            case .sliding: return 0
            case .hca: return 2 * d * e * wb
            case .csa: return (4 * d * e + 4 * di * e + hi * di * q + hi * e) * wb
            }
        }
        let hc = 2 * (2 + n) * n * n * e * 4
        let x = Double(c.routedExperts), f = Double(c.moeIntermediateSize)
        let local = Double(max(1, (c.routedExperts + plan.ep - 1) / plan.ep))
        let moe = (local + Double(c.sharedExperts)) * 3 * e * f * wb + x * e * 2
        let hashTable = Double(c.vocabSize * c.expertsPerToken) * 8
        var weights = 0.0
        for (t, m) in zip(c.layerTypes, c.mlpLayerTypes) {
            weights += attention + compressor(t) + hc + moe + (m == .hash ? hashTable : 0)
        }
        weights += 2 * Double(c.vocabSize) * e * 2 + n * n * e * 4
        if plan.mtp { weights += attention + hc + moe + 2 * e * e * 2 }
        var perSequence = c.layerTypes.reduce(0.0) { $0 + kvBytes($1, config: c, context: plan.context, kv: plan.kvType) }
        if plan.mtp { perSequence += kvBytes(.sliding, config: c, context: plan.context, kv: plan.kvType) }
        let kv = Double(plan.batch * plan.tp) * perSequence
        let workspace = 2e9 + Double(tokens) * (16 * n * e * 2 + Double(c.vocabSize) * 4)
        return MemoryBudget(weights: weights, kvCache: kv, workspace: workspace)
    }
}
