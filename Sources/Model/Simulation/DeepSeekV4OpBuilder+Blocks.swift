import Device

/// Hyper-connections, MoE, embedding, hyper head and MTP of DeepSeek-V4 (see DeepSeekV4OpBuilder).
extension DeepSeekV4OpBuilder {
    /// One manifold-constrained hyper-connection's pre step (`which` = attn or ffn) on T tokens: unweighted
    /// RMS over the N·E streams, the mixing matmul [T, N·E]·[N·E, (2+N)·N] (fp32 parameters), sigmoid/
    /// softmax and the N×N Sinkhorn (hc_sinkhorn_iters row+column normalisations), the pre-weighted
    /// collapse of N streams to one.
    func hyperConnectionPre(_ which: String, tokens: Int) -> [OpCost] {
        let n = c.hcMult, streams = Double(tokens * n * e), mix = (2 + n) * n
        let perToken = Double(n * n) * (6 + 4 * Double(max(c.hcSinkhornIters, 1))) + Double(2 * n) * 6
        return [cost("hc_\(which)_rms", .vector(bytesIn: streams * 2, bytesOut: Double(tokens) * 4, ops: streams * 3, type: .fp32)),
                cost("hc_\(which)_mix", .matmul(m: tokens, n: mix, k: n * e, a: .bf16, b: .fp32, out: .fp32)),
                cost("hc_\(which)_sinkhorn", .vector(bytesIn: Double(tokens * mix) * 4, bytesOut: Double(tokens * mix) * 4,
                                                     ops: Double(tokens) * perToken, type: .fp32)),
                cost("hc_\(which)_collapse", .vector(bytesIn: streams * 2, bytesOut: Double(tokens * e) * 2,
                                                     ops: streams * 2, type: .fp32))]
    }

    /// The post step: h′ = post ⊗ y + combᵀ · h over N streams.
    func hyperConnectionPost(_ which: String, tokens: Int) -> OpCost {
        let n = c.hcMult, streams = Double(tokens * n * e)
        return cost("hc_\(which)_post", .vector(bytesIn: streams * 2 + Double(tokens * e) * 2, bytesOut: streams * 2,
                                                ops: streams * Double(2 * n + 2), type: .fp32))
    }

    /// DeepSeekMoE of V4. Hash layers look the K experts up in the frozen token→expert table and score only
    /// those K (gathered router rows, no [T, X] router matmul, no top-k); routed layers run the router
    /// matmul, sqrtsoftplus/softmax/sigmoid scoring with the correction bias and top-k. Then EP dispatch,
    /// grouped experts (SwiGLU clamped at swiglu_limit), shared experts, combine.
    func moe(_ kind: V4MLPType, tokens: Int) -> [OpCost] {
        let x = c.routedExperts, k = c.expertsPerToken, f = c.moeIntermediateSize
        var ops = [norm("moe.ffn_norm", tokens)]
        switch kind {
        case .hash:
            ops.append(cost("moe.hash_lookup", .vector(bytesIn: Double(tokens * k) * 8 + Double(tokens) * 8,
                                                       bytesOut: Double(tokens * k) * 4, ops: Double(tokens * k), type: .fp32)))
            let rows = Double(min(tokens * k, x) * e)
            ops.append(cost("moe.hash_gate_scores", .vector(bytesIn: rows * 2 + Double(tokens * e) * 2, bytesOut: Double(tokens * k) * 8,
                                                            ops: Double(tokens * k * e) * 2 + Double(tokens * k) * 10, type: .fp32)))
        case .routed:
            ops.append(cost("moe.router", .matmul(m: tokens, n: x, k: e, a: .bf16, b: .bf16, out: .fp32)))
            ops.append(cost("moe.score+topk", .vector(bytesIn: Double(tokens * x) * 4, bytesOut: Double(tokens * k) * 8,
                                                      ops: Double(tokens * x) * 14, type: .fp32)))
        }
        let local = max(1, (x + plan.ep - 1) / plan.ep)
        let received = Double(tokens * k) * plan.expertImbalance
        let perExpert = Array(repeating: Int((received / Double(local)).rounded(.up)), count: local)
        let dispatchBytes = Double(tokens * k) * (Double(e) * (w.isEightBit ? 1 : 2) + 4)
        let decode = plan.phase == .decode   // decode: the low-latency kernels; prefill: node-forwarded high-throughput ones
        ops += [cost("moe.dispatch", .allToAll(bytesPerChip: dispatchBytes, chips: plan.ep, lowLatency: decode, fanout: k)),
                cost("moe.experts_gate_up", .groupedMatmul(tokens: perExpert, n: 2 * f, k: e, a: w, b: w, out: .bf16, experts: true)),
                swiGLU("moe.experts_swiglu", Int(received), width: f),
                cost("moe.experts_down", .groupedMatmul(tokens: perExpert, n: e, k: f, a: w, b: w, out: .bf16, experts: true))]
        if c.sharedExperts > 0 {
            let width = f * c.sharedExperts
            ops += [cost("moe.shared_gate_up", .matmul(m: tokens, n: 2 * width, k: e, a: w, b: w, out: .bf16)),
                    swiGLU("moe.shared_swiglu", tokens, width: width),
                    cost("moe.shared_down", .matmul(m: tokens, n: e, k: width, a: w, b: w, out: .bf16))]
        }
        ops.append(cost("moe.combine", .allToAll(bytesPerChip: Double(tokens * k * e) * 2, chips: plan.ep, lowLatency: decode, fanout: k)))
        return ops
    }

    /// One whole layer: hc(attention) then hc(MoE).
    func layer(_ t: V4AttentionType, _ mlp: V4MLPType, seqs: Int, tokens: Int) -> [OpCost] {
        hyperConnectionPre("attn", tokens: tokens) + attention(t, seqs: seqs, tokens: tokens)
            + [hyperConnectionPost("attn", tokens: tokens)]
            + hyperConnectionPre("ffn", tokens: tokens) + moe(mlp, tokens: tokens) + [hyperConnectionPost("ffn", tokens: tokens)]
    }

    /// Embedding gather, copied into the N residual streams.
    func embedding(tokens: Int) -> [OpCost] {
        [cost("embedding", .vector(bytesIn: Double(tokens * e) * 2, bytesOut: Double(tokens * e * c.hcMult) * 2, ops: 0, type: .bf16))]
    }

    /// Hyper head (RMS over N·E, [N·E → N] weights, sigmoid, weighted sum of streams), final norm, LM head, sampling.
    func head(logits: Int) -> [OpCost] {
        let n = c.hcMult, streams = Double(logits * n * e), v = c.vocabSize
        return [cost("hc_head_rms", .vector(bytesIn: streams * 2, bytesOut: Double(logits) * 4, ops: streams * 3, type: .fp32)),
                cost("hc_head_mix", .matmul(m: logits, n: n, k: n * e, a: .bf16, b: .fp32, out: .fp32)),
                cost("hc_head_collapse", .vector(bytesIn: streams * 2, bytesOut: Double(logits * e) * 2, ops: streams * 2, type: .fp32)),
                norm("final_norm", logits),
                cost("lm_head", .matmul(m: logits, n: v, k: e, a: .bf16, b: .bf16, out: .fp32)),
                cost("sample", .vector(bytesIn: Double(logits * v) * 4, bytesOut: Double(logits) * 8, ops: Double(logits * v) * 4, type: .fp32))]
    }

    /// The MTP module (decode, one draft token): e/h projections of [embedding; hidden], one sliding-window
    /// layer (the config's MTP slot of compress_ratios is 0) with a routed MoE, its hyper head and the LM head.
    func mtpModule(seqs: Int) -> [OpCost] {
        [cost("mtp_eh_proj", .matmul(m: seqs, n: e, k: 2 * e, a: .bf16, b: .bf16, out: .bf16))]
            + layer(.sliding, .routed, seqs: seqs, tokens: seqs) + head(logits: seqs)
    }

    func swiGLU(_ name: String, _ tokens: Int, width: Int) -> OpCost {
        let n = Double(tokens * width)
        return cost(name, .vector(bytesIn: n * 4, bytesOut: n * w.bytes, ops: n * 10, type: .fp32))
    }
}
