import Device

/// Identical layers costed once: `count` instances each taking `time`. Ops are one micro-batch's.
/// One micro-batch: `time = compute + comm`. Two micro-batches: the steady-state period of
/// `MicroBatchSchedule` (DeepSeek's interleaving on one compute and one comm stream), which lies between
/// the ideal `2·max(compute, comm)` and the serial `2·(compute + comm)`.
public struct LayerGroup: Sendable {
    public var name: String
    public var count: Int
    public var microBatches: Int
    public var ops: [OpCost]

    public var compute: Double { ops.filter { !$0.isComm }.reduce(0) { $0 + $1.total } }
    public var comm: Double { ops.filter(\.isComm).reduce(0) { $0 + $1.total } }
    public var time: Double {
        microBatches > 1 ? MicroBatchSchedule(ops: ops).period(microBatches: microBatches) : compute + comm
    }
    public var flops: Double { Double(microBatches) * ops.reduce(0) { $0 + $1.flops } }
    public var bytes: Double { Double(microBatches) * ops.reduce(0) { $0 + $1.bytes } }
}

/// Totals of one simulated step on one chip.
public struct SimulationResult: Sendable {
    public var plan: SimulationPlan
    public var profile: AscendProfile
    public var groups: [LayerGroup]
    public var memory: MemoryBudget

    /// Time of one step (decode: all sequences advance; prefill: all prompts processed).
    public var stepTime: Double { groups.reduce(0) { $0 + Double($1.count) * $1.time } }
    /// Output tokens per step per sequence: 1, or 1 + acceptance with MTP.
    public var tokensPerStep: Double { plan.phase == .decode && plan.mtp ? 1 + plan.mtpAcceptance : 1 }
    /// Decode: time per output token = step ÷ tokens per step. Prefill: 0.
    public var tpot: Double { plan.phase == .decode ? stepTime / tokensPerStep : 0 }
    /// Prefill: the step time (every prompt's first token comes out at its end). Decode: 0.
    public var ttft: Double { plan.phase == .prefill ? stepTime : 0 }
    /// Decode: batch ÷ TPOT output tokens/s; prefill: batch·context ÷ step input tokens/s (prefix hits included).
    public var tokensPerSecondPerChip: Double {
        plan.phase == .decode ? Double(plan.batch) / tpot : Double(plan.batch * plan.context) / stepTime
    }
    public var flops: Double { groups.reduce(0) { $0 + Double($1.count) * $1.flops } }
}

/// Timing-only simulation of a DeepSeek-shaped model on N chips of one profile (no weights needed).
public enum Simulator {
    public static func run(config: DeepSeekConfig, plan: SimulationPlan, profile: AscendProfile) throws -> SimulationResult {
        try plan.validate(heads: config.num_attention_heads)
        var builder = DeepSeekOpBuilder(c: config, plan: plan)
        // W8A8 is Ascend's format: its prefill is costed as Huawei's R1 prefill recipe runs it (decode runs the fused
        // MLA-prolog / MC2 kernels instead: cann-recipes decode configs set enable_mla_prolog).
        builder.cannPrefill = plan.phase == .prefill && plan.quant == .w8a8
        let model = plan.costModel(profile)
        let mb = plan.microBatches
        let seqs = (plan.batch + mb - 1) / mb
        let computed = plan.phase == .prefill ? Int(Double(plan.context) * (1 - plan.prefixHitRate)) : builder.queries
        let tokens = seqs * max(computed, 1)
        let dense = min(config.first_k_dense_replace ?? 0, config.num_hidden_layers)
        let logits = plan.phase == .decode ? tokens : seqs
        func group(_ name: String, _ count: Int, _ ops: [CostOp]) -> LayerGroup {
            LayerGroup(name: name, count: count, microBatches: mb, ops: ops.map(model.cost))
        }
        var groups = [group("embedding", 1, builder.embedding(tokens: tokens))]
        if dense > 0 {
            groups.append(group("dense", dense, builder.attention(seqs: seqs, tokens: tokens) + builder.denseMLP(tokens: tokens)))
        }
        let moeLayers = (dense..<config.num_hidden_layers).filter(config.isMoELayer).count
        if moeLayers > 0 {
            groups.append(group("moe", moeLayers, builder.attention(seqs: seqs, tokens: tokens) + builder.moe(tokens: tokens)))
        }
        groups.append(group("head", 1, builder.head(logits: logits)))
        if plan.phase == .decode && plan.mtp { groups.append(group("mtp", 1, builder.mtpModule(seqs: seqs))) }
        let memory = memoryBudget(config: config, plan: plan, tokens: tokens * mb)
        try memory.check(against: profile)
        return SimulationResult(plan: plan, profile: profile, groups: groups, memory: memory)
    }

    /// HBM per chip. Weights: attention (heads split by tp), dense MLPs, local + shared experts, router,
    /// embedding and LM head (bf16), MTP module. KV: batch·tp sequences × context × (R + P) × bytes per
    /// layer. Workspace [assumption]: 2 GB runtime/collective buffers + 16 hidden-sized activations and
    /// fp32 logits per token.
    public static func memoryBudget(config c: DeepSeekConfig, plan: SimulationPlan, tokens: Int) -> MemoryBudget {
        let b = DeepSeekOpBuilder(c: c, plan: plan)
        let h = Double(c.hidden_size), wb = plan.linear.bytes, heads = Double(b.heads)
        let qk = Double(b.qkDim), cache = Double(b.cacheWidth), r = Double(c.kv_lora_rank)
        let qIn = c.q_lora_rank.map { h * Double($0) + Double($0) * heads * qk } ?? h * heads * qk
        let attention = (qIn + h * cache + r * heads * Double(c.qk_nope_head_dim + c.v_head_dim)
            + heads * Double(c.v_head_dim) * h) * wb
        let dense = Double(min(c.first_k_dense_replace ?? 0, c.num_hidden_layers))
        let moeLayers = Double(c.num_hidden_layers) - dense + (plan.mtp ? 1 : 0)
        let e = c.n_routed_experts ?? 0
        let expert = 3 * h * Double(c.moe_intermediate_size) * wb
        let moe = (Double(max(1, (e + plan.ep - 1) / plan.ep)) + Double(c.n_shared_experts ?? 0)) * expert + Double(e) * h * 2
        let layers = Double(c.num_hidden_layers) + (plan.mtp ? 1 : 0)
        let weights = layers * attention + dense * 3 * h * Double(c.intermediate_size) * wb + moeLayers * moe
            + 2 * Double(c.vocab_size) * h * 2 + (plan.mtp ? 2 * h * h * 2 : 0)
        let kv = Double(plan.batch * plan.tp * plan.context) * cache * plan.kvType.bytes * layers
        let workspace = 2e9 + Double(tokens) * (16 * h * 2 + Double(c.vocab_size) * 4)
        return MemoryBudget(weights: weights, kvCache: kv, workspace: workspace)
    }
}
