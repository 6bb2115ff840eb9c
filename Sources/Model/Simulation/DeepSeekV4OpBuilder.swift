import Device

// Notation as /work/notes/v4-spec.md: E hidden, N hc_mult, H heads (Ha = H/tp on a chip), D head_dim, Q q_lora,
// g o_groups, R o_lora, Hi/Di indexer heads/width, m/m′ CSA/HCA rates, W sliding window, X routed experts,
// K experts per token, F moe_intermediate_size. T tokens on this chip per micro-batch, Ta = T·tp the TP
// group's tokens (attention heads are split over tp, the single shared KV head is replicated).

/// Builds one chip's kernels for each DeepSeek-V4 layer kind under a `SimulationPlan`, costed on `model`.
/// Attention ops are named by phase of the block so the report can split them: `attn.*` (projections and
/// core attention), `compressor.*`, `indexer.*`; hyper-connection ops are `hc_*`.
struct DeepSeekV4OpBuilder {
    let c: DeepSeekV4SimConfig
    let plan: SimulationPlan
    let model: CostModel

    var e: Int { c.hiddenSize }
    var heads: Int { c.heads / plan.tp }
    var w: ElementType { plan.linear }
    /// Query tokens per sequence in one decode step (1, or 2 with an MTP draft).
    var queries: Int { plan.phase == .decode && plan.mtp ? 2 : 1 }

    func cost(_ name: String, _ kind: CostOp.Kind) -> OpCost { model.cost(CostOp(name, kind)) }

    // MARK: attention

    /// The attention block of a layer of type `t` (without its hyper-connection), `seqs` sequences.
    func attention(_ t: V4AttentionType, seqs: Int, tokens: Int) -> [OpCost] {
        let ta = tokens * plan.tp, d = c.headDim
        var ops = [norm("attn.attn_norm", tokens),
                   cost("attn.q_a+kv_proj", .matmul(m: ta, n: c.qLoraRank + d, k: e, a: w, b: w, out: .bf16)),
                   norm("attn.q_norm", ta, width: c.qLoraRank),
                   cost("attn.q_b_proj", .matmul(m: ta, n: heads * d, k: c.qLoraRank, a: w, b: w, out: .bf16)),
                   vector("attn.q_head_norm+rope", ta * heads * d, opsPerElement: 6),
                   vector("attn.kv_norm+rope+cache", ta * d, opsPerElement: 6)]
        if t != .sliding { ops += compressor(t, tokens: ta) }
        if t == .csa { ops += indexer(seqs: seqs * plan.tp, tokens: ta) }
        ops.append(model.gatherAttention("attn.core", coreShape(t, seqs: seqs * plan.tp, queries: tokens / max(seqs, 1))))
        ops.append(vector("attn.o_derope", ta * heads * c.ropeDim, opsPerElement: 4))
        let groups = max(1, c.oGroups / plan.tp), groupWidth = c.heads * d / c.oGroups
        ops.append(cost("attn.o_a_proj", .groupedMatmul(tokens: Array(repeating: ta, count: groups), n: c.oLoraRank,
                                                       k: groupWidth, a: w, b: w, out: .bf16)))
        ops.append(cost("attn.o_b_proj", .matmul(m: ta, n: e, k: groups * c.oLoraRank, a: w, b: w, out: .bf16)))
        if plan.tp > 1 { ops.append(cost("attn.tp_reduce", .allReduce(bytes: Double(ta * e) * 2, chips: plan.tp))) }
        return ops
    }

    /// Compressor of a CSA (overlapping windows of 2m, kv and gate 2D wide) or HCA (windows of m′, D wide)
    /// layer: the kv/gate projections, the per-channel softmax pooling, and norm + rope + cache write of
    /// the ⌈tokens/m⌉ entries that close.
    func compressor(_ t: V4AttentionType, tokens: Int) -> [OpCost] {
        let d = c.headDim, width = t == .csa ? 2 * d : d, rate = t == .csa ? c.csaRate : c.hcaRate
        let entries = (tokens + rate - 1) / rate
        return [cost("compressor.kv+gate_proj", .matmul(m: tokens, n: 2 * width, k: e, a: w, b: w, out: .bf16)),
                cost("compressor.pool", .vector(bytesIn: Double(tokens * 2 * width) * 2, bytesOut: Double(entries * d) * 2,
                                                ops: Double(tokens * width) * 6, type: .fp32)),
                vector("compressor.norm+rope+cache", entries * d, opsPerElement: 6)]
    }

    /// Lightning indexer of a CSA layer: its own compressor (2Di kv and gate), query projection from the
    /// q_lora latent, head weights, then one fused kernel per step: ReLU scores of every query's Hi heads
    /// against the ⌊p/m⌋ compressed index keys, weighted and summed over heads on the score tiles (a
    /// scores-only shared-key attention), and top-k over the summed scores. Like the shared KV head, the
    /// indexer is not split over TP: every chip of the group runs it for the group's tokens.
    func indexer(seqs: Int, tokens: Int) -> [OpCost] {
        let hi = c.indexHeads, di = c.indexHeadDim, m = c.csaRate, q = tokens / max(seqs, 1)
        let decode = plan.phase == .decode
        let keys = decode ? (Double(plan.context + 1) / Double(m)).rounded(.down) : averageCompressed(rate: m)
        var ops = [cost("indexer.compressor_proj", .matmul(m: tokens, n: 4 * di, k: e, a: w, b: w, out: .bf16)),
                   cost("indexer.compressor_pool", .vector(bytesIn: Double(tokens * 4 * di) * 2,
                                                           bytesOut: Double((tokens + m - 1) / m * di) * 2,
                                                           ops: Double(tokens * 2 * di) * 6, type: .fp32)),
                   cost("indexer.q_b_proj", .matmul(m: tokens, n: hi * di, k: c.qLoraRank, a: w, b: w, out: .bf16)),
                   cost("indexer.weights_proj", .matmul(m: tokens, n: hi, k: e, a: w, b: w, out: .fp32))]
        guard keys > 0 else { return ops }
        let entries = decode ? keys : (Double(plan.context) / Double(m)).rounded(.down)
        let moved = decode ? keys : (Double(q) / 128).rounded(.up) * keys
        ops.append(model.gatherAttention("indexer.scores", GatherAttentionShape(
            seqs: seqs, queries: q, heads: hi, dim: di, valueDim: 0, keysPerQuery: keys, hbmKeys: entries, movedKeys: moved, kv: plan.kvType)))
        let n = Double(tokens) * keys
        ops.append(cost("indexer.topk", .vector(bytesIn: n * 4, bytesOut: Double(tokens) * min(keys, Double(c.indexTopK)) * 4,
                                                ops: n * 8, type: .fp32)))
        return ops
    }

    /// Keys of the core attention. Decode at context C (the new token at position C): the window
    /// min(C+1, W), plus ⌊(C+1)/m′⌋ entries (HCA) or min(index_topk, ⌊(C+1)/m⌋) selected entries (CSA).
    /// Prefill of L tokens: the same per position p, averaged over p < L; window keys are shared by the
    /// queries of a 128-token block and move once per block, selected ones move per query. `queries` per
    /// sequence: 1, or 2 with an MTP draft (decode); the computed prompt tokens (prefill, keys averaged over
    /// the whole prompt).
    func coreShape(_ t: V4AttentionType, seqs: Int, queries: Int) -> GatherAttentionShape {
        let w = Double(c.slidingWindow), kv = plan.kvType
        if plan.phase == .decode {
            let pos = Double(plan.context + 1), window = min(pos, w)
            let extra: Double
            switch t {
            case .sliding: extra = 0
            case .hca: extra = (pos / Double(c.hcaRate)).rounded(.down)
            case .csa: extra = min(Double(c.indexTopK), (pos / Double(c.csaRate)).rounded(.down))
            }
            let q = Double(queries)
            return GatherAttentionShape(seqs: seqs, queries: queries, heads: heads, dim: c.headDim, keysPerQuery: window + extra,
                                        hbmKeys: window + (t == .csa ? q * extra : extra),
                                        movedKeys: window + (t == .csa ? q * extra : extra), kv: kv)
        }
        let l = plan.context, lf = Double(l)
        let window = averageWindow(length: l)
        let blocks = (Double(queries) / 128).rounded(.up), blockKeys = min(lf, w + 128)
        switch t {
        case .sliding:
            return GatherAttentionShape(seqs: seqs, queries: queries, heads: heads, dim: c.headDim, keysPerQuery: window,
                                        hbmKeys: lf, movedKeys: blocks * blockKeys, kv: kv)
        case .hca:
            let comp = averageCompressed(rate: c.hcaRate), entries = (lf / Double(c.hcaRate)).rounded(.down)
            return GatherAttentionShape(seqs: seqs, queries: queries, heads: heads, dim: c.headDim, keysPerQuery: window + comp,
                                        hbmKeys: lf + entries, movedKeys: blocks * (blockKeys + entries), kv: kv)
        case .csa:
            let selected = averageSelected(), entries = (lf / Double(c.csaRate)).rounded(.down)
            return GatherAttentionShape(seqs: seqs, queries: queries, heads: heads, dim: c.headDim, keysPerQuery: window + selected,
                                        hbmKeys: lf + entries, movedKeys: blocks * blockKeys + Double(queries) * selected, kv: kv)
        }
    }

    /// Mean over positions p < context of min(p+1, W).
    func averageWindow(length l: Int) -> Double {
        let w = c.slidingWindow
        let inside = min(l, w), total = Double(inside * (inside + 1) / 2) + Double(max(0, l - w) * w)
        return total / Double(max(l, 1))
    }

    /// Mean over positions p < context of ⌊(p+1)/rate⌋ (complete windows visible to the query).
    func averageCompressed(rate: Int) -> Double {
        let l = plan.context
        var total = 0.0
        for p in 0..<l { total += Double((p + 1) / rate) }
        return total / Double(max(l, 1))
    }

    /// Mean over positions p < context of min(index_topk, ⌊(p+1)/m⌋).
    func averageSelected() -> Double {
        let l = plan.context
        var total = 0.0
        for p in 0..<l { total += Double(min(c.indexTopK, (p + 1) / c.csaRate)) }
        return total / Double(max(l, 1))
    }

    // MARK: helpers

    func norm(_ name: String, _ tokens: Int, width: Int? = nil) -> OpCost {
        let n = Double(tokens * (width ?? e))
        return cost(name, .vector(bytesIn: n * 2, bytesOut: n * w.bytes, ops: n * 5, type: .fp32))
    }

    func vector(_ name: String, _ elements: Int, opsPerElement: Double) -> OpCost {
        let n = Double(elements)
        return cost(name, .vector(bytesIn: n * 2, bytesOut: n * 2, ops: n * opsPerElement, type: .fp32))
    }
}
