import Device
import Foundation

/// DeepSeek-V3.2's DeepSeek Sparse Attention keys (model_type `deepseek_v32`), on top of a V3 config.
public struct DeepSeekV32Indexer: Sendable, Codable, Equatable {
    public var index_n_heads: Int
    public var index_head_dim: Int
    public var index_topk: Int
}

/// A V3.2 simulation: the step plus the sparse attention's per-layer view.
public struct DeepSeekV32SimulationResult: Sendable {
    public var indexer: DeepSeekV32Indexer
    public var result: SimulationResult
    /// Latent positions each query attends to: min(index_topk, visible tokens) (prefill: mean).
    public var keysPerQuery: Double
    /// Per layer, whole step: the attention block, its MLA core and its indexer.
    public var attentionTime: Double
    public var coreTime: Double
    public var indexerTime: Double
    /// Whole-model KV bytes per token: layers × (kv_lora_rank + rope + index_head_dim) × bytes(kv).
    public var kvBytesPerToken: Double
    public var layers: Int
}

/// Timing-only DeepSeek-V3.2: the V3 model (DeepSeekOpBuilder for MLP, MoE, embedding and head) with
/// MLA in MQA (absorbed) form over only the index_topk positions the Lightning indexer selects, plus the
/// indexer itself in every layer: wq_b from the q latent, wk + LayerNorm + rope, head weights, ReLU
/// scores against every cached indexer key (causal), top-k.
public enum DeepSeekV32Simulator {
    /// `deepseek-v3.2`: deepseek-ai/DeepSeek-V3.2 = the DeepSeek-V3 shape plus index_n_heads 64,
    /// index_head_dim 128, index_topk 2048 (the values of transformers' DeepseekV32Config).
    public static func builtin(_ name: String) -> (DeepSeekConfig, DeepSeekV32Indexer)? {
        guard ["deepseek-v3.2", "deepseek-v32"].contains(name.lowercased()), let v3 = DeepSeekConfig.builtin("deepseek-v3") else { return nil }
        return (v3, DeepSeekV32Indexer(index_n_heads: 64, index_head_dim: 128, index_topk: 2048))
    }

    /// A built-in name or a `config.json` whose `model_type` is `deepseek_v32`; nil otherwise.
    public static func resolve(_ nameOrPath: String) throws -> (DeepSeekConfig, DeepSeekV32Indexer)? {
        if let c = builtin(nameOrPath) { return c }
        guard let data = FileManager.default.contents(atPath: nameOrPath),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["model_type"] as? String == "deepseek_v32" else { return nil }
        let indexer = try JSONDecoder.decodeConfig(DeepSeekV32Indexer.self, from: data)
        guard indexer.index_n_heads > 0, indexer.index_head_dim > 0, indexer.index_topk > 0 else {
            throw SimulationError.invalid("DeepSeek-V3.2 config: index_n_heads, index_head_dim and index_topk must be positive")
        }
        return (try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: data), indexer)
    }

    public static func run(config c: DeepSeekConfig, indexer: DeepSeekV32Indexer, plan: SimulationPlan,
                           profile: AscendProfile) throws -> DeepSeekV32SimulationResult {
        try plan.validate(heads: c.num_attention_heads)
        let model = plan.costModel(profile)
        let b = DeepSeekOpBuilder(c: c, plan: plan)
        let dsa = SparseAttentionBuilder(b: b, ix: indexer, model: model)
        let mb = plan.microBatches
        let seqs = (plan.batch + mb - 1) / mb
        let computed = plan.phase == .prefill ? Int(Double(plan.context) * (1 - plan.prefixHitRate)) : b.queries
        let tokens = seqs * max(computed, 1)
        let dense = min(c.first_k_dense_replace ?? 0, c.num_hidden_layers)
        let moeLayers = (dense..<c.num_hidden_layers).filter(c.isMoELayer).count
        func group(_ name: String, _ count: Int, _ ops: [OpCost]) -> LayerGroup {
            LayerGroup(name: name, count: count, microBatches: mb, ops: ops)
        }
        let attention = dsa.attention(seqs: seqs, tokens: tokens)
        var groups = [group("embedding", 1, b.embedding(tokens: tokens).map(model.cost))]
        if dense > 0 { groups.append(group("dense", dense, attention + b.denseMLP(tokens: tokens).map(model.cost))) }
        if moeLayers > 0 { groups.append(group("moe", moeLayers, attention + b.moe(tokens: tokens).map(model.cost))) }
        groups.append(group("head", 1, b.head(logits: plan.phase == .decode ? tokens : seqs).map(model.cost)))
        if plan.phase == .decode && plan.mtp {
            let eh = model.cost(CostOp("mtp_eh_proj", .matmul(m: seqs, n: c.hidden_size, k: 2 * c.hidden_size, a: .bf16, b: .bf16, out: .bf16)))
            groups.append(group("mtp", 1, [eh] + dsa.attention(seqs: seqs, tokens: seqs)
                + (b.moe(tokens: seqs) + b.head(logits: seqs)).map(model.cost)))
        }
        let layers = c.num_hidden_layers + (plan.mtp ? 1 : 0)   // as Simulator.memoryBudget counts the MTP layer
        var memory = Simulator.memoryBudget(config: c, plan: plan, tokens: tokens * mb)
        let q = Double(c.q_lora_rank ?? c.hidden_size), e = Double(c.hidden_size)
        let hi = Double(indexer.index_n_heads), di = Double(indexer.index_head_dim)
        memory.weights += Double(layers) * (q * hi * di + e * (di + hi)) * plan.linear.bytes
        memory.kvCache += Double(plan.batch * plan.tp * plan.context * layers) * di * plan.kvType.bytes
        try memory.check(against: profile)
        func time(_ prefix: String) -> Double { Double(mb) * attention.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.total } }
        let perToken = Double(c.num_hidden_layers * (c.kv_lora_rank + c.qk_rope_head_dim + indexer.index_head_dim)) * plan.kvType.bytes
        return DeepSeekV32SimulationResult(indexer: indexer, result: SimulationResult(plan: plan, profile: profile, groups: groups, memory: memory),
                                           keysPerQuery: dsa.selected(queries: tokens / max(seqs, 1)),
                                           attentionTime: Double(mb) * attention.reduce(0) { $0 + $1.total },
                                           coreTime: time("attn.core"), indexerTime: time("indexer."),
                                           kvBytesPerToken: perToken, layers: c.num_hidden_layers)
    }
}

/// The V3.2 attention block of one chip (notation as DeepSeekOpBuilder; Hi/Di indexer heads/width).
struct SparseAttentionBuilder {
    let b: DeepSeekOpBuilder
    let ix: DeepSeekV32Indexer
    let model: CostModel

    /// Mean over the step's queries of min(index_topk, visible positions).
    func selected(queries: Int) -> Double {
        let plan = b.plan
        if plan.phase == .decode { return Double(min(ix.index_topk, plan.context + 1)) }
        let l = plan.context, start = max(0, l - queries)
        var total = 0.0
        for p in start..<l { total += Double(min(ix.index_topk, p + 1)) }
        return total / Double(max(l - start, 1))
    }

    func attention(seqs: Int, tokens: Int) -> [OpCost] {
        let c = b.c, plan = b.plan, w = b.w, heads = b.heads
        let ta = tokens * plan.tp, sa = seqs * plan.tp, q = tokens / max(seqs, 1)
        let r = c.kv_lora_rank, p = c.qk_rope_head_dim, qIn = c.q_lora_rank ?? c.hidden_size
        let hi = ix.index_n_heads, di = ix.index_head_dim
        var ops: [CostOp] = [b.norm("attn.attn_norm", tokens)]
        if let qLora = c.q_lora_rank {
            ops += [CostOp("attn.q_a+kv_a_proj", .matmul(m: ta, n: qLora + r + p, k: c.hidden_size, a: w, b: w, out: .bf16)),
                    b.norm("attn.q_norm", ta, width: qLora)]
        } else {
            ops.append(CostOp("attn.kv_a_proj", .matmul(m: ta, n: r + p, k: c.hidden_size, a: w, b: w, out: .bf16)))
        }
        ops += [CostOp("attn.q_b_proj", .matmul(m: ta, n: heads * b.qkDim, k: qIn, a: w, b: w, out: .bf16)),
                b.norm("attn.kv_norm+rope+cache", ta, width: r + p),
                CostOp("indexer.wq_b", .matmul(m: ta, n: hi * di, k: qIn, a: w, b: w, out: .bf16)),
                CostOp("indexer.wk+weights_proj", .matmul(m: ta, n: di + hi, k: c.hidden_size, a: w, b: w, out: .bf16)),
                b.norm("indexer.k_norm+rope+cache", ta, width: di)]
        ops.append(CostOp("attn.q_absorb", .groupedMatmul(tokens: Array(repeating: ta, count: heads), n: r, k: c.qk_nope_head_dim,
                                                          a: .bf16, b: .bf16, out: .bf16)))
        var out = ops.map(model.cost)
        // Every query scores all the indexer keys it can see (prefill: (L+1)/2 on average, causal), fused
        // ReLU·weight·head-sum on the score tiles; then top-k over the summed scores.
        let decode = plan.phase == .decode
        let keys = decode ? Double(plan.context + 1) : Double(plan.context + 1) / 2
        out.append(model.gatherAttention("indexer.scores", GatherAttentionShape(
            seqs: sa, queries: q, heads: hi, dim: di, valueDim: 0, keysPerQuery: keys, hbmKeys: Double(plan.context),
            movedKeys: decode ? keys : (Double(q) / 128).rounded(.up) * keys, kv: plan.kvType)))
        out.append(model.cost(CostOp("indexer.topk", .vector(bytesIn: Double(ta) * keys * 4, bytesOut: Double(ta * ix.index_topk) * 4,
                                                             ops: Double(ta) * keys * 8, type: .fp32))))
        let k = selected(queries: q)
        if plan.phase == .decode {
            out.append(model.cost(CostOp("attn.core", .mlaDecode(seqs: sa, queries: q, heads: heads, context: Int(k), latent: r, rope: p,
                                                                 block: 1, kv: plan.kvType))))
        } else {
            // MQA over the latent: keys the R + P latent, values its R part.
            out.append(model.gatherAttention("attn.core", GatherAttentionShape(seqs: sa, queries: q, heads: heads, dim: r + p, valueDim: r, keysPerQuery: k,
                                                                               hbmKeys: Double(plan.context), movedKeys: Double(q) * k, kv: plan.kvType)))
        }
        var tail = [CostOp("attn.v_absorb", .groupedMatmul(tokens: Array(repeating: ta, count: heads), n: c.v_head_dim, k: r, a: .bf16, b: .bf16, out: .bf16)),
                    CostOp("attn.o_proj", .matmul(m: ta, n: c.hidden_size, k: heads * c.v_head_dim, a: w, b: w, out: .bf16))]
        if plan.tp > 1 { tail.append(CostOp("attn.tp_reduce", .allReduce(bytes: Double(ta * c.hidden_size) * 2, chips: plan.tp))) }
        tail.append(b.norm("residual+ffn_norm", tokens))
        return out + tail.map(model.cost)
    }
}
