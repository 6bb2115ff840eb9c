import Foundation

/// Turns a `CostOp` (shapes and dtypes only) into per-pipe time on an `AscendProfile`.
///
/// Each kernel's pipes run in parallel, double-buffered, so
/// `time ≈ max(MTE2, MTE1, Cube, FixPipe, Vector, MTE3, Comm) + fill/drain + launch`, where fill/drain is
/// one tile's load before the first compute and one tile's write-out after the last, and launch is the
/// profile's per-kernel cost (0 in graph mode). HBM traffic counts operands once when their re-reads hit
/// L2 (the re-read operand fits in half of L2), else every re-read.
public struct CostModel: Sendable {
    public var profile: AscendProfile
    /// Graph mode (ACL graph / CUDA graph capture) removes the per-kernel launch cost.
    public var graphMode: Bool

    public init(profile: AscendProfile, graphMode: Bool = false) {
        self.profile = profile
        self.graphMode = graphMode
    }

    var launchCost: Double { graphMode ? 0 : profile.launchOverhead.value }
    var clock: Double { profile.clockHz.value }
    var cores: Double { profile.cubeCores.value }

    /// The cost of one op.
    public func cost(_ op: CostOp) -> OpCost {
        var c: OpCost
        switch op.kind {
        case let .matmul(m, n, k, a, b, out):
            c = groupedMatmul(tokens: [m], n: n, k: k, a: a, b: b, out: out, compute: profile.efficiency.matmulCompute)
        case let .groupedMatmul(tokens, n, k, a, b, out, experts):
            let e = profile.efficiency
            c = groupedMatmul(tokens: tokens, n: n, k: k, a: a, b: b, out: out,
                              compute: experts ? e.groupedMatmulCompute : e.matmulCompute)
        case let .mlaDecode(seqs, queries, heads, context, latent, rope, block, kv):
            c = mlaDecode(seqs: seqs, queries: queries, heads: heads, context: context,
                          latent: latent, rope: rope, block: block, kv: kv)
        case let .gqaAttention(seqs, queries, heads, kvHeads, context, headDim, kv):
            c = gqaAttention(seqs: seqs, queries: queries, heads: heads, kvHeads: kvHeads, context: context, headDim: headDim, kv: kv)
        case let .attentionPrefill(seqs, length, cached, heads, qkDim, vDim, type):
            c = attentionPrefill(seqs: seqs, length: length, cached: cached, heads: heads, qkDim: qkDim, vDim: vDim, type: type)
        case let .vector(bytesIn, bytesOut, ops, type):
            c = vector(bytesIn: bytesIn, bytesOut: bytesOut, ops: ops, type: type)
        case let .allToAll(bytes, chips, lowLatency, fanout, maxNodes):
            if !lowLatency && fanout > 1 && Double(chips) > profile.scaleUpChips.value {
                c = nodeForwardedAllToAll(bytes: bytes, chips: chips, fanout: fanout, maxNodes: maxNodes)
            } else {
                c = link(sent: bytes * Double(chips - 1) / Double(max(chips, 1)), chips: chips, steps: 1,
                         efficiency: lowLatency ? profile.efficiency.linkLowLatency : profile.efficiency.link)
            }
        case let .allReduce(bytes, chips):
            c = link(sent: 2 * bytes * Double(chips - 1) / Double(max(chips, 1)), chips: chips, steps: 2 * log2(Double(max(chips, 2))))
        case let .allGather(bytes, chips):
            c = link(sent: bytes * Double(chips - 1) / Double(max(chips, 1)), chips: chips, steps: log2(Double(max(chips, 2))))
        }
        c.name = op.name
        c.launch = launchCost
        return c
    }

    /// Vector kernel: `Vector = ops ÷ (AIV × lanes × clock)`; `MTE2 = (in + out) ÷ HBM` (reads and writes
    /// share HBM, so MTE2 carries the op's whole HBM time); `MTE3 = out ÷ HBM`; HBM = peak × `vectorBandwidth`.
    func vector(bytesIn: Double, bytesOut: Double, ops: Double, type: ElementType) -> OpCost {
        var c = OpCost(name: "")
        let hbm = profile.hbmBandwidth.value * profile.efficiency.vectorBandwidth.value
        c.pipes[.mte2] = (bytesIn + bytesOut) / hbm
        if bytesOut > 0 { c.pipes[.mte3] = bytesOut / hbm }
        if ops > 0 { c.pipes[.vector] = ops / profile.vectorOpsPerSecond(type) }
        c.bytes = bytesIn + bytesOut
        c.flops = ops
        c.peak = profile.vectorOpsPerSecond(type)
        return c
    }

    /// Collective over the link: `Comm = steps × latency + sent ÷ (bandwidth × link efficiency)`. Within the scale-up domain the
    /// intra link carries everything; beyond it the share `1 − scaleUp/chips` crosses the inter link and
    /// the slower of the two parts sets the time.
    func link(sent: Double, chips: Int, steps: Double, efficiency: Sourced? = nil) -> OpCost {
        var c = OpCost(name: "")
        guard chips > 1 else { c.pipes[.comm] = 0; return c }
        let p = profile, n = Double(chips), scaleUp = p.scaleUpChips.value, e = (efficiency ?? p.efficiency.link).value
        let intra = p.intraBandwidth.value * e, inter = p.interBandwidth.value * e
        let time: Double
        if n <= scaleUp {
            time = steps * p.intraLatency.value + sent / intra
        } else {
            let crossing = 1 - scaleUp / n
            time = steps * p.interLatency.value + max(sent * (1 - crossing) / intra, sent * crossing / inter)
        }
        c.pipes[.comm] = time
        c.bytes = sent
        return c
    }
}

extension CostModel {
    /// The high-throughput (prefill) all-to-all across nodes as DeepEP's normal kernels run it (DeepEP README:
    /// "forwarding data from NVLink domain to RDMA domain"; DeepSeek-V3 report §3.2.2: a token crosses to each
    /// of its at most 4 nodes once over IB, then NVLink takes it to the GPUs there). With `fanout` destinations
    /// drawn uniformly over N = chips ÷ scaleUp nodes, a token reaches min(maxNodes, N·(1 − (1 − 1/N)^fanout))
    /// distinct nodes [derived]; that count includes its own node, as DeepEP's benchmark counts the RDMA bytes
    /// its measured bandwidth (`efficiency.link`) refers to. The NVLink side forwards every copy:
    /// `Comm = inter latency + max(bytes/fanout · nodes ÷ inter bw, bytes·(chips−1)/chips ÷ intra bw)`, both × `link`.
    func nodeForwardedAllToAll(bytes: Double, chips: Int, fanout: Int, maxNodes: Int?) -> OpCost {
        var c = OpCost(name: "")
        let p = profile, n = Double(chips) / p.scaleUpChips.value, e = p.efficiency.link.value
        let nodes = min(Double(maxNodes ?? Int.max), n * (1 - pow(1 - 1 / n, Double(fanout))))
        let rdma = bytes / Double(fanout) * nodes
        let nvlink = bytes * Double(chips - 1) / Double(chips)
        c.pipes[.comm] = p.interLatency.value + max(rdma / (p.interBandwidth.value * e), nvlink / (p.intraBandwidth.value * e))
        c.bytes = rdma
        return c
    }
}

/// HBM use per chip: weights + KV cache + workspace, checked against the profile's capacity.
public struct MemoryBudget: Sendable, Equatable {
    public var weights: Double
    public var kvCache: Double
    public var workspace: Double

    public init(weights: Double, kvCache: Double, workspace: Double) {
        self.weights = weights; self.kvCache = kvCache; self.workspace = workspace
    }

    public var total: Double { weights + kvCache + workspace }

    /// Throws `SimulationError.outOfMemory` when `total` exceeds the HBM capacity, as the chip would.
    public func check(against profile: AscendProfile) throws {
        let capacity = profile.hbmCapacity.value
        guard total <= capacity else {
            let parts = "weights \(SimulationError.size(weights)) + KV \(SimulationError.size(kvCache)) + workspace \(SimulationError.size(workspace))"
            throw SimulationError.outOfMemory(needed: total, capacity: capacity, breakdown: parts)
        }
    }
}
