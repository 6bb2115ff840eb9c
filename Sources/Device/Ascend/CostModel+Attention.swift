import Foundation

extension CostModel {
    /// HBM bandwidth attention kernels achieve (peak × `attentionBandwidth`). Every attention kernel's Cube
    /// time is likewise divided by `attentionCompute` (see `KernelEfficiency`).
    var attentionBandwidth: Double { profile.hbmBandwidth.value * profile.efficiency.attentionBandwidth.value }

    /// MLA decode as the fused kernel runs it: MQA over the latent cache, paged in blocks of `block`
    /// positions (C′ = C rounded up to a block). Per sequence, the q·H query rows share one KV stream.
    /// - FLOPs = 2·S·q·H·C′·(R + P) (scores) + 2·S·q·H·C′·R (values), R latent, P rope; Cube in bf16 on
    ///   ⌈qH/16⌉·⌈C′/16⌉·((R+P)/16 + R/16) fractal cycles per sequence.
    /// - MTE2 = S·C·(R + P)·bytes(kv) ÷ HBM (the cache is read once; queries are negligible).
    /// - MTE1 = that stream × ⌈qH/128⌉ (L0A row tiles) ÷ (cores · MTE1 · clock).
    /// - FixPipe = scores S·q·H·C′·4 B out to GM for the AIV softmax (split architecture) ÷ FixPipe rate.
    /// - Vector = 5 fp32 ops per score (max, subtract, exp, sum, scale) ÷ vector rate.
    func mlaDecode(seqs: Int, queries: Int, heads: Int, context: Int, latent: Int, rope: Int, block: Int, kv: ElementType) -> OpCost {
        var c = OpCost(name: "")
        let p = profile
        let s = Double(seqs), rows = Double(queries * heads), cPad = Double(roundUp(max(context, 1), block))
        let r = Double(latent), pr = Double(rope)
        c.flops = 2 * s * rows * cPad * (r + pr) + 2 * s * rows * cPad * r
        let cycles = s * ceil(rows / 16) * ceil(cPad / 16) * (ceil((r + pr) / 16) + ceil(r / 16)) * fractalCycles
        let active = min(cores, s * ceil(rows / 128) * ceil(cPad / 512))
        c.pipes[.cube] = cycles / active / clock / p.efficiency.attentionCompute.value
        let kvBytes = s * Double(context) * (r + pr) * kv.bytes
        let ioBytes = s * rows * (r + pr) * 2 + s * rows * r * 2
        c.pipes[.mte2] = (kvBytes + ioBytes) / attentionBandwidth
        c.pipes[.mte1] = kvBytes * ceil(rows / 128) / (active * p.mte1BytesPerCycle.value * clock)
        let scores = s * rows * cPad
        c.pipes[.fixpipe] = scores * 4 / (active * p.fixpipeBytesPerCycle.value * clock)
        c.pipes[.vector] = scores * 5 / p.vectorOpsPerSecond(.fp32)
        c.fillDrain = Double(block) * (r + pr) * kv.bytes * active / p.hbmBandwidth.value
        c.bytes = kvBytes + ioBytes
        c.peak = p.peakFLOPS(.bf16)
        return c
    }

    /// Paged GQA attention as the fused kernel runs it: per sequence and KV head, the q·H/G query rows
    /// share one K and one V stream of C positions (C′ = C rounded up to 128, the kernel's block).
    /// - FLOPs = 4·S·q·H·C·D (scores and values); Cube = S·G·⌈qH/G/16⌉·⌈C′/16⌉·2⌈D/16⌉ fractal cycles.
    /// - MTE2 = S·C·2·G·D·bytes(kv) ÷ HBM (K and V read once); FixPipe = fp32 scores to GM for the AIV
    ///   softmax; Vector = 5 fp32 ops per score.
    func gqaAttention(seqs: Int, queries: Int, heads: Int, kvHeads: Int, context: Int, headDim: Int, kv: ElementType) -> OpCost {
        var c = OpCost(name: "")
        let p = profile
        let s = Double(seqs), g = Double(kvHeads), rows = Double(queries * heads) / g
        let ctx = Double(max(context, 1)), cPad = Double(roundUp(max(context, 1), 128)), d = Double(headDim)
        c.flops = 4 * s * rows * g * ctx * d
        let cycles = s * g * ceil(rows / 16) * ceil(cPad / 16) * 2 * ceil(d / 16) * fractalCycles
        let active = min(cores, s * g * ceil(cPad / 512))
        c.pipes[.cube] = cycles / active / clock / p.efficiency.attentionCompute.value
        let kvBytes = s * ctx * 2 * g * d * kv.bytes
        let ioBytes = 2 * s * rows * g * d * 2
        c.pipes[.mte2] = (kvBytes + ioBytes) / attentionBandwidth
        let scores = s * rows * g * cPad
        c.pipes[.fixpipe] = scores * 4 / (active * p.fixpipeBytesPerCycle.value * clock)
        c.pipes[.vector] = scores * 5 / p.vectorOpsPerSecond(.fp32)
        c.bytes = kvBytes + ioBytes
        c.peak = p.peakFLOPS(.bf16)
        return c
    }

    /// Causal flash-style prefill attention over `seqs` sequences of `length` new tokens after `cached`
    /// positions, H heads (L new, P cached; query i sees P + i + 1 keys):
    /// - FLOPs = 2·S·H·(L·P + L(L+1)/2)·(Dqk + Dv); Cube in 128×128 query/key blocks: each of the ⌈L/128⌉
    ///   query blocks meets every cached key block and the causal half of the new ones.
    /// - MTE2 = (Q + O of L, K + V of P + L) ÷ HBM, with K/V re-read per query block from L2 ÷ L2 bw.
    /// - FixPipe = score blocks (fp32) to GM for the AIV softmax; Vector = 5 ops per unmasked score.
    func attentionPrefill(seqs: Int, length: Int, cached: Int = 0, heads: Int, qkDim: Int, vDim: Int, type: ElementType) -> OpCost {
        var c = OpCost(name: "")
        let p = profile
        let s = Double(seqs), l = Double(length), pc = Double(max(cached, 0)), h = Double(heads)
        let dq = Double(qkDim), dv = Double(vDim)
        let pairs = l * pc + l * (l + 1) / 2
        c.flops = 2 * s * h * pairs * (dq + dv)
        let blocks = ceil(l / 128)
        let blockPairs = blocks * ceil(pc / 128) + blocks * (blocks + 1) / 2
        let cycles = s * h * blockPairs * 8 * 8 * (ceil(dq / 16) + ceil(dv / 16)) * fractalCycles
        let active = min(cores, s * h * blocks)
        c.pipes[.cube] = cycles / active / clock / p.efficiency.attentionCompute.value
        let qkvo = s * h * (l * (dq + dv) + (pc + l) * (dq + dv)) * type.bytes
        let reread = s * h * blockPairs * 128 * (dq + dv) * type.bytes
        c.pipes[.mte2] = max(qkvo / attentionBandwidth, reread / p.l2Bandwidth.value)
        c.pipes[.mte1] = reread / (active * p.mte1BytesPerCycle.value * clock)
        let scores = s * h * blockPairs * 128 * 128
        c.pipes[.fixpipe] = scores * 4 / (active * p.fixpipeBytesPerCycle.value * clock)
        c.pipes[.vector] = scores * 5 / p.vectorOpsPerSecond(.fp32)
        c.fillDrain = 128 * (dq + dv) * type.bytes * active / p.hbmBandwidth.value
        c.bytes = qkvo
        c.peak = p.peakFLOPS(type)
        return c
    }
}
