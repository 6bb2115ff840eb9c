import Device

/// What `moeserve simulate` runs: the parallel plan, the phase and the serving assumptions, per chip.
/// `batch` is sequences per chip; decode runs them at `context` cached positions each, prefill runs
/// `batch` prompts of `context` tokens each.
public struct SimulationPlan: Sendable {
    public enum Phase: String, Sendable, CaseIterable { case decode, prefill }
    public enum Quantisation: String, Sendable, CaseIterable {
        /// int8 weights and per-token int8 activations on every linear (Ascend's DeepSeek format).
        case w8a8
        /// FP8 linears (DeepSeek's own H800 deployment); costed at the 8-bit matmul rate.
        case fp8
        case bf16
    }

    public var chips: Int
    public var ep: Int
    public var tp: Int
    public var batch: Int
    public var context: Int
    public var phase: Phase
    public var quant: Quantisation = .w8a8
    /// Two micro-batches, communication of one overlapping compute of the other (DeepSeek's scheme).
    public var overlap = false
    /// Multi-token prediction: one draft token per step, accepted with `mtpAcceptance` (an assumption).
    public var mtp = false
    public var mtpAcceptance = 0.8
    public var graphMode = true
    /// Busiest chip's expert tokens ÷ the mean (1 = perfectly balanced by EPLB); an assumption.
    public var expertImbalance = 1.0
    /// Share of prompt tokens served from the prefix cache (prefill only; counted as input tokens).
    public var prefixHitRate = 0.0
    public var kvType: ElementType = .bf16

    public init(chips: Int, ep: Int, tp: Int, batch: Int, context: Int, phase: Phase) {
        self.chips = chips; self.ep = ep; self.tp = tp; self.batch = batch; self.context = context; self.phase = phase
    }

    /// Element type of linear weights and activations.
    var linear: ElementType {
        switch quant {
        case .w8a8: return .int8
        case .fp8: return .fp8
        case .bf16: return .bf16
        }
    }

    /// Micro-batches per step: two when overlapping (and there are two sequences to split), else one.
    var microBatches: Int { overlap && batch > 1 ? 2 : 1 }

    /// The cost model of this plan's kernels. Two overlapped prefill micro-batches run the high-throughput
    /// all-to-all beside the compute, which keeps `efficiency.overlapCompute` of the cores (DeepSeek on H800:
    /// 108 of 132 SMs; Ascend: all, the transfers run on the SDMA engines). Decode's low-latency kernels hold
    /// no cores while they wait (DeepEP low-latency, Ascend MC2), so decode keeps every core.
    func costModel(_ profile: AscendProfile) -> CostModel {
        let chip = phase == .prefill && microBatches > 1 ? profile.keepingCores(profile.efficiency.overlapCompute.value) : profile
        return CostModel(profile: chip, graphMode: graphMode)
    }

    func validate(heads: Int) throws {
        guard chips > 0, ep > 0, tp > 0, batch > 0, context > 0 else {
            throw SimulationError.invalid("chips, ep, tp, batch and context must be positive")
        }
        // Past these the arithmetic overflows (batch × context × hidden) long before any real deployment.
        guard chips <= 1 << 20, batch <= 1 << 20, context <= 1 << 24 else {
            throw SimulationError.invalid("chips and batch must be at most \(1 << 20), context at most \(1 << 24)")
        }
        guard mtpAcceptance.isFinite, (0...1).contains(mtpAcceptance) else {
            throw SimulationError.invalid("the MTP acceptance rate is a share in 0...1, got \(mtpAcceptance)")
        }
        guard prefixHitRate.isFinite, prefixHitRate >= 0, prefixHitRate < 1 else {
            throw SimulationError.invalid("the prefix-hit rate is a share in 0..<1 (some of each prompt must run), got \(prefixHitRate)")
        }
        guard expertImbalance.isFinite, expertImbalance >= 1, expertImbalance <= Double(ep) else {
            throw SimulationError.invalid("the expert imbalance (busiest chip ÷ mean) is in 1...ep (\(ep)), got \(expertImbalance)")
        }
        guard chips % ep == 0 else { throw SimulationError.invalid("ep \(ep) must divide chips \(chips)") }
        guard chips % tp == 0, heads % tp == 0 else {
            throw SimulationError.invalid("tp \(tp) must divide chips \(chips) and the \(heads) attention heads")
        }
    }
}
