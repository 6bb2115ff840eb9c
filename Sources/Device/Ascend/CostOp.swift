/// Element types the cost model distinguishes (bytes and matmul rate; not `DType`, which is storage).
public enum ElementType: String, Sendable, CaseIterable {
    case int8, fp8, fp16, bf16, fp32

    public var bytes: Double {
        switch self {
        case .int8, .fp8: return 1
        case .fp16, .bf16: return 2
        case .fp32: return 4
        }
    }

    /// Runs on the matmul unit at the int8/fp8 rate.
    public var isEightBit: Bool { self == .int8 || self == .fp8 }
}

/// One kernel, described by shapes only (timing-only mode needs no data). Every case's cost formula
/// is on `CostModel`; shapes are per chip.
public struct CostOp: Sendable {
    public enum Kind: Sendable {
        /// C[M,N] = A[M,K] · B[K,N]; B is the weight (`b` dtype), C written as `out`.
        case matmul(m: Int, n: Int, k: Int, a: ElementType, b: ElementType, out: ElementType)
        /// One kernel over groups: group e computes [tokens[e], K] · [K, N]; groups with 0 tokens skip.
        /// `experts`: the MoE expert GEMM (DeepGEMM's grouped kernels, `npu_grouped_matmul`), whose Cube runs at
        /// `groupedMatmulCompute`; otherwise a batched per-head matmul at the dense `matmulCompute`.
        case groupedMatmul(tokens: [Int], n: Int, k: Int, a: ElementType, b: ElementType, out: ElementType, experts: Bool = false)
        /// MLA decode absorbed (MQA over the latent cache): `seqs` sequences × `queries` tokens × `heads`
        /// against `context` cached positions of `latent + rope` values, paged in blocks of `block`.
        case mlaDecode(seqs: Int, queries: Int, heads: Int, context: Int, latent: Int, rope: Int, block: Int, kv: ElementType)
        /// Paged GQA attention: `seqs` sequences × `queries` tokens, `heads` query heads sharing `kvHeads`
        /// K/V heads of `headDim`, over `context` cached positions.
        case gqaAttention(seqs: Int, queries: Int, heads: Int, kvHeads: Int, context: Int, headDim: Int, kv: ElementType)
        /// Causal prefill attention (flash style): `seqs` × `length` new tokens after `cached` positions
        /// already in the cache (prefix hits, earlier chunks), `heads` with qk/v widths.
        case attentionPrefill(seqs: Int, length: Int, cached: Int = 0, heads: Int, qkDim: Int, vDim: Int, type: ElementType)
        /// Elementwise/vector kernel through UB: bytes read and written, element operations.
        case vector(bytesIn: Double, bytesOut: Double, ops: Double, type: ElementType)
        /// All-to-all where each chip sends `bytesPerChip` spread evenly over `chips` (1/chips stays local);
        /// `lowLatency`: the decode kernels (DeepEP / MC2 low-latency mode) rather than the high-throughput ones.
        /// `fanout`: the bytes are that many copies of each token (MoE top-k), and `maxNodes` caps the nodes one
        /// token may reach (node-limited routing); the high-throughput kernels send a token to each of its
        /// nodes once across the scale-up boundary and forward it inside (`CostModel.nodeForwardedAllToAll`).
        case allToAll(bytesPerChip: Double, chips: Int, lowLatency: Bool = false, fanout: Int = 1, maxNodes: Int? = nil)
        /// Ring all-reduce of `bytes` per chip over `chips`.
        case allReduce(bytes: Double, chips: Int)
        /// All-gather producing `bytes` per chip (each contributes bytes / chips) over `chips`.
        case allGather(bytes: Double, chips: Int)
    }

    public var name: String
    public var kind: Kind

    public init(_ name: String, _ kind: Kind) { self.name = name; self.kind = kind }
}

/// The pipes of a Da Vinci core (AIC: MTE2, MTE1, Cube, FixPipe; AIV: Vector, MTE3) plus the link.
public enum Pipe: String, Sendable, CaseIterable {
    case mte2 = "MTE2", mte1 = "MTE1", cube = "Cube", fixpipe = "FixPipe", vector = "Vector", mte3 = "MTE3", comm = "Comm"
}

/// What limits an op: the pipe whose time dominates, classified.
public enum Bound: String, Sendable { case compute, memory, comm, launch }

/// Time of one op on one chip, per pipe, with `total ≈ max(pipe) + fill/drain + launch`.
public struct OpCost: Sendable {
    public var name: String
    public var pipes: [Pipe: Double] = [:]
    public var fillDrain: Double = 0
    public var launch: Double = 0
    public var flops: Double = 0
    /// Bytes moved to/from HBM (after L2 hits) or over the link for comm ops.
    public var bytes: Double = 0
    /// Peak FLOP/s for this op's dtype, for utilisation.
    public var peak: Double = 0

    public init(name: String) { self.name = name }

    public var total: Double { (pipes.values.max() ?? 0) + fillDrain + launch }

    public var bound: Bound {
        guard let (pipe, t) = pipes.max(by: { $0.value < $1.value }), t >= launch else { return .launch }
        switch pipe {
        case .cube, .vector: return .compute
        case .comm: return .comm
        default: return .memory
        }
    }

    /// Achieved FLOP/s ÷ peak (0 for comm and pure data movement).
    public var utilisation: Double { total > 0 && peak > 0 ? flops / total / peak : 0 }

    /// True for link-only ops, which two micro-batches can overlap with compute.
    public var isComm: Bool { pipes[.comm] != nil }
}
