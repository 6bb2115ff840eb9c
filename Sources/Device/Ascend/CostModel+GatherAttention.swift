import Foundation

/// Shape of a shared-KV (multi-query) attention whose keys are a per-query set rather than the causal
/// prefix: DeepSeek-V4's sliding-window, compressed (HCA) and top-k selected (CSA) attention, decode or
/// prefill. One KV head serves every query row: keys of width `dim`, values its first `valueDim` channels
/// (K = V in V4; the latent's R of R + P in MLA; 0 for a scores-only kernel such as the Lightning indexer,
/// whose ReLU·weight·head-sum runs on the score tiles). Every query token has `heads` rows.
public struct GatherAttentionShape: Sendable, Equatable {
    /// Sequences and query tokens per sequence.
    public var seqs: Int
    public var queries: Int
    public var heads: Int
    public var dim: Int
    public var valueDim: Int
    /// Keys each query token attends to (an average over the queries in prefill).
    public var keysPerQuery: Double
    /// Distinct key rows per sequence read from HBM (the window and compressed entries once each).
    public var hbmKeys: Double
    /// Key rows per sequence moved GM→L1: rows shared by a block of queries count once per block,
    /// gathered (top-k) rows once per query.
    public var movedKeys: Double
    public var kv: ElementType

    public init(seqs: Int, queries: Int, heads: Int, dim: Int, valueDim: Int? = nil, keysPerQuery: Double, hbmKeys: Double,
                movedKeys: Double, kv: ElementType) {
        self.seqs = seqs; self.queries = queries; self.heads = heads; self.dim = dim; self.valueDim = valueDim ?? dim
        self.keysPerQuery = keysPerQuery; self.hbmKeys = hbmKeys; self.movedKeys = movedKeys; self.kv = kv
    }
}

extension CostModel {
    /// Shared-KV attention over per-query key sets (a fused kernel, scores and values on the cube, softmax
    /// with the sink on the AIV). S seqs, Q queries, H heads, K keys per query, D = dim, Dv = valueDim:
    /// - FLOPs = 2·S·Q·H·K·(D + Dv) (scores and values).
    /// - Cube = S·Q·⌈H/16⌉·(K/16)·(⌈D/16⌉ + ⌈Dv/16⌉) fractals ÷ active cores (a query's H rows share its keys).
    /// - MTE2 = max((S·hbmKeys·D·bytes(kv) + q and o in bf16) ÷ HBM, S·movedKeys·D·bytes(kv) ÷ L2 bw).
    /// - MTE1 = moved rows × ⌈H/128⌉ ÷ (active · MTE1 · clock); FixPipe = fp32 scores out for the AIV
    ///   softmax; Vector = 5 fp32 ops per score.
    /// Active cores = min(cores, S·Q·⌈H/128⌉·⌈K/512⌉). Block padding of masked keys is not costed.
    public func gatherAttention(_ name: String, _ a: GatherAttentionShape) -> OpCost {
        var c = OpCost(name: name)
        c.launch = launchCost
        let p = profile
        let s = Double(a.seqs), q = Double(a.queries), h = Double(a.heads), d = Double(a.dim), k = a.keysPerQuery
        guard s > 0, q > 0, h > 0, k > 0 else { return c }
        let dv = Double(a.valueDim)
        c.flops = 2 * s * q * h * k * (d + dv)
        let cycles = s * q * ceil(h / 16) * (k / 16) * (ceil(d / 16) + ceil(dv / 16)) * fractalCycles
        let active = min(cores, max(1, s * q * ceil(h / 128) * ceil(k / 512)))
        c.pipes[.cube] = cycles / active / clock
        let hbm = s * a.hbmKeys * d * a.kv.bytes + s * q * h * (d + dv) * 2
        let moved = s * a.movedKeys * d * a.kv.bytes
        c.pipes[.mte2] = max(hbm / p.hbmBandwidth.value, moved / p.l2Bandwidth.value)
        c.pipes[.mte1] = moved * ceil(h / 128) / (active * p.mte1BytesPerCycle.value * clock)
        let scores = s * q * h * k
        c.pipes[.fixpipe] = scores * 4 / (active * p.fixpipeBytesPerCycle.value * clock)
        c.pipes[.vector] = scores * 5 / p.vectorOpsPerSecond(.fp32)
        c.fillDrain = min(k, 128) * d * a.kv.bytes * active / p.hbmBandwidth.value
        c.bytes = hbm
        c.peak = p.peakFLOPS(.bf16)
        return c
    }
}
