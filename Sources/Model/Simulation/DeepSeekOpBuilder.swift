import Device

// T tokens on this chip per micro-batch, Ta = T·tp tokens seen by attention (the TP group's), Ha = H/tp
// heads, h hidden, R kv_lora_rank, P rope dim, E routed experts, k experts per token.

/// Builds one chip's kernels for each kind of DeepSeek layer (V2/V3 shape) under a `SimulationPlan`.
/// Attention is data-parallel (heads split over `tp`), experts are split over `ep` chips (redundant
/// copies when ep > E), the shared expert and dense MLPs are replicated.
struct DeepSeekOpBuilder {
    let c: DeepSeekConfig
    let plan: SimulationPlan
    /// Emit the kernels of Huawei's DeepSeek-R1 W8A8 prefill recipe op for op (`DeepSeekOpBuilder+CANNPrefill`);
    /// `Simulator` sets it for W8A8 prefill. Off: the generic sequence below (fused norm+quant, bf16 outputs).
    var cannPrefill = false

    var h: Int { c.hidden_size }
    var heads: Int { c.num_attention_heads / plan.tp }
    var qkDim: Int { c.qk_nope_head_dim + c.qk_rope_head_dim }
    var cacheWidth: Int { c.kv_lora_rank + c.qk_rope_head_dim }
    var w: ElementType { plan.linear }
    /// Query tokens per sequence in one decode step (1, or 2 with an MTP draft).
    var queries: Int { plan.phase == .decode && plan.mtp ? 2 : 1 }

    /// Attention block for `seqs` sequences on this chip; `tokens` = seqs × query tokens each.
    func attention(seqs: Int, tokens: Int) -> [CostOp] {
        if cannPrefill { return cannAttention(seqs: seqs, tokens: tokens) }
        let ta = tokens * plan.tp, sa = seqs * plan.tp
        var ops = [norm("attn_norm", tokens)]
        if let qLora = c.q_lora_rank {
            ops.append(CostOp("q_a+kv_a_proj", .matmul(m: ta, n: qLora + cacheWidth, k: h, a: w, b: w, out: .bf16)))
            ops.append(norm("q_norm", ta, width: qLora))
            ops.append(CostOp("q_b_proj", .matmul(m: ta, n: heads * qkDim, k: qLora, a: w, b: w, out: .bf16)))
        } else {
            ops.append(CostOp("q_proj", .matmul(m: ta, n: heads * qkDim, k: h, a: w, b: w, out: .bf16)))
            ops.append(CostOp("kv_a_proj", .matmul(m: ta, n: cacheWidth, k: h, a: w, b: w, out: .bf16)))
        }
        ops.append(norm("kv_norm+rope+cache", ta, width: cacheWidth))
        let r = c.kv_lora_rank
        if plan.phase == .decode {
            let perHead = Array(repeating: ta, count: heads)
            ops.append(CostOp("q_absorb", .groupedMatmul(tokens: perHead, n: r, k: c.qk_nope_head_dim, a: .bf16, b: .bf16, out: .bf16)))
            ops.append(CostOp("mla_decode", .mlaDecode(seqs: sa, queries: queries, heads: heads, context: plan.context,
                                                       latent: r, rope: c.qk_rope_head_dim, block: 128, kv: plan.kvType)))
            ops.append(CostOp("v_absorb", .groupedMatmul(tokens: perHead, n: c.v_head_dim, k: r, a: .bf16, b: .bf16, out: .bf16)))
        } else {
            // Non-absorbed MLA prefill: keys/values of every visible position (cached prefix included) are
            // up-projected from the latent cache, and the new tokens attend to all of them.
            let length = tokens / max(seqs, 1), cached = max(0, plan.context - length)
            ops.append(CostOp("kv_b_proj", .matmul(m: sa * (cached + length), n: heads * (c.qk_nope_head_dim + c.v_head_dim), k: r,
                                                   a: w, b: w, out: .bf16)))
            ops.append(CostOp("attention", .attentionPrefill(seqs: sa, length: length, cached: cached, heads: heads,
                                                             qkDim: qkDim, vDim: c.v_head_dim, type: .bf16)))
        }
        ops.append(CostOp("o_proj", .matmul(m: ta, n: h, k: heads * c.v_head_dim, a: w, b: w, out: .bf16)))
        if plan.tp > 1 { ops.append(CostOp("tp_reduce", .allReduce(bytes: Double(ta * h) * 2, chips: plan.tp))) }
        ops.append(norm("residual+ffn_norm", tokens))
        return ops
    }

    /// Dense SwiGLU MLP (the first `first_k_dense_replace` layers), replicated per chip.
    func denseMLP(tokens: Int) -> [CostOp] {
        let i = c.intermediate_size
        if cannPrefill { return cannMLP("mlp", tokens: tokens, width: i) }
        return [
            CostOp("mlp_gate_up", .matmul(m: tokens, n: 2 * i, k: h, a: w, b: w, out: .bf16)),
            swiGLU("mlp_swiglu", tokens, width: i),
            CostOp("mlp_down", .matmul(m: tokens, n: h, k: i, a: w, b: w, out: .bf16)),
            residual(tokens),
        ]
    }

    /// DeepSeekMoE: router, EP dispatch (8-bit tokens + fp32 scale), grouped experts, shared expert,
    /// EP combine (bf16); decode uses the low-latency dispatch/combine kernels, prefill the high-throughput ones. Each chip receives T·k·imbalance expert tokens spread over its local experts.
    /// Prefill also pays the token shuffles around the high-throughput all-to-all (`routingShuffles`).
    func moe(tokens: Int) -> [CostOp] {
        let e = c.n_routed_experts ?? 0, k = c.num_experts_per_tok ?? 1, mi = c.moe_intermediate_size
        let shared = c.n_shared_experts ?? 0
        let local = max(1, (e + plan.ep - 1) / plan.ep)   // ep > E: redundant copies, one per chip
        let received = Double(tokens * k) * plan.expertImbalance
        let perExpert = Array(repeating: Int((received / Double(local)).rounded(.up)), count: local)
        let row = Double(h) * (w.isEightBit ? 1 : 2) + 4   // one dispatched token: 8-bit (or bf16) + fp32 scale
        let shuffles = plan.phase == .prefill ? routingShuffles(tokens: tokens, received: received, row: row) : nil
        var ops = cannPrefill ? cannRouter(tokens: tokens) : [
            CostOp("router", .matmul(m: tokens, n: e, k: h, a: .bf16, b: .bf16, out: .fp32))]
        ops.append(CostOp("gating_topk", .vector(bytesIn: Double(tokens * e) * 4, bytesOut: Double(tokens * k) * 8,
                                                 ops: Double(tokens * e) * 8, type: .fp32)))
        if let shuffles { ops.append(shuffles.expand) }
        // Group-limited routing (V3: 4 of 8 groups, EPLB packs a group's experts on one node) keeps a token's
        // experts within topk_group nodes; without groups (n_group 1) there is no limit.
        let decode = plan.phase == .decode, nodes = (c.n_group ?? 1) > 1 ? c.topk_group : nil
        ops.append(CostOp("dispatch", .allToAll(bytesPerChip: Double(tokens * k) * row, chips: plan.ep, lowLatency: decode,
                                                fanout: k, maxNodes: nodes)))
        if let shuffles { ops.append(shuffles.sort) }
        ops += [
            // W8A8 prefill: the grouped gate/up matmul writes int32 for the fused dequant-SwiGLU-quant (cannMLP).
            CostOp("experts_gate_up", .groupedMatmul(tokens: perExpert, n: 2 * mi, k: h, a: w, b: w, out: cannPrefill ? .fp32 : .bf16,
                                                     experts: true)),
            cannPrefill ? dequantSwiGLUQuant("experts_swiglu", Int(received), width: mi) : swiGLU("experts_swiglu", Int(received), width: mi),
            CostOp("experts_down", .groupedMatmul(tokens: perExpert, n: h, k: mi, a: w, b: w, out: .bf16, experts: true)),
        ]
        if shared > 0 && cannPrefill {
            ops += cannMLP("shared", tokens: tokens, width: mi * shared)
        } else if shared > 0 {
            ops.append(CostOp("shared_gate_up", .matmul(m: tokens, n: 2 * mi * shared, k: h, a: w, b: w, out: .bf16)))
            ops.append(swiGLU("shared_swiglu", tokens, width: mi * shared))
            ops.append(CostOp("shared_down", .matmul(m: tokens, n: h, k: mi * shared, a: w, b: w, out: .bf16)))
        }
        if let shuffles { ops.append(shuffles.unsort) }
        ops.append(CostOp("combine", .allToAll(bytesPerChip: Double(tokens * k * h) * 2, chips: plan.ep, lowLatency: decode,
                                               fanout: k, maxNodes: nodes)))
        if let shuffles { ops.append(shuffles.finalize) }
        // The recipe adds the residual in the next layer's npu_add_rms_norm (cannAttention's attn_add_norm).
        if !cannPrefill { ops.append(residual(tokens)) }
        return ops
    }

    /// The token shuffles of the high-throughput (prefill) all-to-all, as Huawei's DeepSeek-R1 prefill recipe runs
    /// them ("Double-Routing", cann-recipes-infer docs/models/deepseek-r1/deepseek_r1_prefill_optimization.md):
    /// `npu_moe_init_routing_v2` expands each token to its k expert rows sorted by expert (before dispatch),
    /// `npu_moe_re_routing` sorts the received rows by local expert (after), `index_select` restores their order
    /// (before combine), `npu_moe_finalize_routing` sums the k returned rows with the router weights and the
    /// shared expert's output (after). Each is memory-bound: every row read once and written once. The decode
    /// kernels (MoeDistributeDispatch/Combine, DeepEP low-latency) deliver expert-major rows and reduce in the
    /// combine themselves, so decode has none of these.
    func routingShuffles(tokens: Int, received: Double, row: Double) -> (expand: CostOp, sort: CostOp, unsort: CostOp, finalize: CostOp) {
        let k = Double(c.num_experts_per_tok ?? 1), t = Double(tokens), bf16Row = Double(h) * 2
        return (
            // Its input is the FFN norm's output: int8 where that norm quantises, bf16 in the recipe (whose
            // init_routing quantises itself, quant_mode=1).
            CostOp("init_routing", .vector(bytesIn: t * Double(h) * (cannPrefill ? 2 : w.bytes), bytesOut: t * k * row, ops: 0, type: .bf16)),
            CostOp("re_routing", .vector(bytesIn: received * row, bytesOut: received * row, ops: 0, type: .bf16)),
            CostOp("unpermute", .vector(bytesIn: received * bf16Row, bytesOut: received * bf16Row, ops: 0, type: .bf16)),
            CostOp("finalize_routing", .vector(bytesIn: (t * k + t) * bf16Row, bytesOut: t * bf16Row,
                                               ops: t * k * Double(h) * 2, type: .fp32)))
    }

    /// Embedding gather at the start, final norm and LM head at the end (on `logits` tokens).
    func embedding(tokens: Int) -> [CostOp] {
        [CostOp("embedding", .vector(bytesIn: Double(tokens * h) * 2, bytesOut: Double(tokens * h) * 2, ops: 0, type: .bf16))]
    }

    func head(logits: Int) -> [CostOp] {
        [norm("final_norm", logits),
         CostOp("lm_head", .matmul(m: logits, n: c.vocab_size, k: h, a: .bf16, b: .bf16, out: .fp32)),
         CostOp("sample", .vector(bytesIn: Double(logits * c.vocab_size) * 4, bytesOut: Double(logits) * 8,
                                  ops: Double(logits * c.vocab_size) * 4, type: .fp32))]
    }

    /// The MTP module (decode): eh_proj over [embedding; hidden], one MoE layer, shared LM head.
    func mtpModule(seqs: Int) -> [CostOp] {
        [CostOp("mtp_eh_proj", .matmul(m: seqs, n: h, k: 2 * h, a: .bf16, b: .bf16, out: .bf16))]
            + attention(seqs: seqs, tokens: seqs) + moe(tokens: seqs) + head(logits: seqs)
    }

    /// RMSNorm (+ optional per-token int8 quant) over `tokens × width`: read bf16, write the linear's type.
    func norm(_ name: String, _ tokens: Int, width: Int? = nil) -> CostOp {
        let n = Double(tokens * (width ?? h))
        return CostOp(name, .vector(bytesIn: n * 2, bytesOut: n * w.bytes, ops: n * 5, type: .fp32))
    }

    func swiGLU(_ name: String, _ tokens: Int, width: Int) -> CostOp {
        let n = Double(tokens * width)
        return CostOp(name, .vector(bytesIn: n * 4, bytesOut: n * w.bytes, ops: n * 8, type: .fp32))
    }

    func residual(_ tokens: Int) -> CostOp {
        let n = Double(tokens * h)
        return CostOp("residual", .vector(bytesIn: n * 4, bytesOut: n * 2, ops: n, type: .bf16))
    }
}
