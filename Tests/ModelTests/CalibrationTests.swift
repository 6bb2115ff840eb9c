import Testing
import Device
@testable import Model

/// Calibration of the timing-only simulator against published DeepSeek-R1/V3 serving figures
/// (../shared/ASCEND.md; every assumption is also in config/ascend/CALIBRATION.md, with the numbers).
///
/// The model has no per-scenario factor: the profiles carry sourced kernel efficiencies (`KernelEfficiency`),
/// prefill attention covers the cached prefix, W8A8 prefill runs Huawei's recipe kernels (its quantisation passes,
/// bf16 kv_b_proj, fp32 router, int32 gate/up outputs), prefill pays the MoE token shuffles around the high-throughput
/// all-to-all, and two micro-batches are list-scheduled on one compute and one comm stream
/// (`MicroBatchSchedule`), the compute keeping the share of cores the comm kernels leave it. The target is
/// ±30% of each published figure. Where the model is still further off, the ±30% expectation is recorded as
/// a known issue with the measured ratio, and the test asserts what we can defend: the simulator is never
/// below the published figure (an optimistic model: no host overhead, perfect expert balance, steady state)
/// and within 1.6× of it. Two cross-checks compare like with like (same setup, steady state, balanced
/// experts): they locate what the published serving figures leave out (see CALIBRATION.md).
@Suite struct CalibrationTests {
    let r1 = DeepSeekConfig.builtin("deepseek-r1")!

    /// Simulated ÷ published throughput, checked against the ±30% target and the defensible `band`.
    func check(_ simulated: Double, published: Double, meetsTarget: Bool, band: ClosedRange<Double> = 1...1.6) {
        let ratio = simulated / published
        print("calibration: simulated \(Int(simulated.rounded())) vs published \(Int(published)) tokens/s per chip, ratio \(ratio)")
        #expect(band.contains(ratio), "simulated \(simulated) vs published \(published)")
        if meetsTarget {
            #expect(abs(ratio - 1) <= 0.30)
        } else {
            withKnownIssue("±30% calibration target not met yet: ratio \(ratio) (see config/ascend/CALIBRATION.md)") {
                #expect(abs(ratio - 1) <= 0.30)
            }
        }
    }

    /// CloudMatrix384 decode: R1 W8A8, one chip = one 910C package, 160 packages EP160 (= EP320 over dies;
    /// 2 expert slots per package), batch 96 per NPU (the paper: 96), KV 4,096 per sequence (bf16),
    /// MTP on with 70% acceptance (the paper's evaluation setting), two micro-batches, graph mode.
    @Test func cloudMatrixDecode() throws {
        var plan = SimulationPlan(chips: 160, ep: 160, tp: 1, batch: 96, context: 4096, phase: .decode)
        plan.quant = .w8a8; plan.mtp = true; plan.mtpAcceptance = 0.7; plan.overlap = true
        let r = try Simulator.run(config: r1, plan: plan, profile: .ascend910C)
        #expect(r.tpot < 0.050)
        check(r.tokensPerSecondPerChip, published: 1_943, meetsTarget: true)
    }

    /// CloudMatrix384 prefill: R1 W8A8, 16 packages EP16 (= EP32 over dies), 4 prompts × 4,096 tokens per NPU per
    /// step (the paper's Table 2: 4K input, 16K tokens per NPU), no prefix hits, perfect expert balance (the
    /// paper's 6,688 is its "Perfect EPLB" row), two micro-batches, W8A8 prefill costed as Huawei's recipe runs it.
    /// Compute-bound in the model, whose compute is still 1.2–1.4× faster than Huawei's compute-bound A3 run
    /// (CALIBRATION.md), so it stays a known issue (1.35).
    @Test func cloudMatrixPrefill() throws {
        check(try Self.cloudMatrixPrefill(overlap: true).tokensPerSecondPerChip, published: 6_688, meetsTarget: false)
    }

    /// Cross-check, the same setup without micro-batches: Huawei's own DeepSeek-R1 prefill recipe on Atlas A3
    /// (cann-recipes-infer, docs/models/deepseek-r1/deepseek_r1_prefill_optimization.md: 16 cards, MLA-DP32 +
    /// MoE-EP32, 64 × 4K prompts, balanced experts) measures 5,237 tokens/s per card without micro-batches and
    /// 6,522 with them. The serial step lands within ±30% (1.22), its communication a share (29%) like Huawei's
    /// "can reach 30%"; the compute is what the model makes too fast (CALIBRATION.md).
    @Test func cloudMatrixPrefillWithoutMicroBatches() throws {
        check(try Self.cloudMatrixPrefill(overlap: false).tokensPerSecondPerChip, published: 5_237, meetsTarget: true, band: 0.7...1.3)
    }

    static func cloudMatrixPrefill(overlap: Bool) throws -> SimulationResult {
        var plan = SimulationPlan(chips: 16, ep: 16, tp: 1, batch: 4, context: 4096, phase: .prefill)
        plan.quant = .w8a8; plan.overlap = overlap
        return try Simulator.run(config: DeepSeekConfig.builtin("deepseek-r1")!, plan: plan, profile: .ascend910C)
    }

    /// DeepSeek's H800 decode: EP144, FP8 linears, BF16 attention/KV, KV length 4,989 (published average),
    /// batch 88 per GPU [derived: 1,850 tok/s ÷ ~21 tok/s per user], MTP on with 85% acceptance (V3 report:
    /// 85–90%), two micro-batches.
    @Test func h800Decode() throws {
        var plan = SimulationPlan(chips: 144, ep: 144, tp: 1, batch: 88, context: 4989, phase: .decode)
        plan.quant = .fp8; plan.mtp = true; plan.mtpAcceptance = 0.85; plan.overlap = true
        let r = try Simulator.run(config: r1, plan: plan, profile: .h800)
        check(r.tokensPerSecondPerChip, published: 1_850, meetsTarget: true)
    }

    /// DeepSeek's H800 prefill: EP32 (4 nodes), FP8, 4 prompts × 4,096 tokens per GPU (DeepSeek's profile-data:
    /// 16K tokens per GPU), 56.3% of input tokens from the on-disk KV cache (published; counted as input, not
    /// computed, but attended to). The published figure is a 24-hour service average, and DeepSeek's own
    /// steady state runs 1.95× faster (7,839 vs 4,026 computed tokens/s per GPU, `h800PrefillProfile`), so the
    /// steady-state model is allowed up to 1.3 × 1.95 ≈ 2.5× here.
    @Test func h800Prefill() throws {
        var plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 4, context: 4096, phase: .prefill)
        plan.quant = .fp8; plan.overlap = true; plan.prefixHitRate = 0.563
        let r = try Simulator.run(config: r1, plan: plan, profile: .h800)
        check(r.tokensPerSecondPerChip, published: 9_200, meetsTarget: false, band: 1...2.5)
    }

    /// Cross-check, DeepSeek's own steady state: the profile-data prefill setup (EP32, 4K prompts, 16K tokens per
    /// GPU, two micro-batches, "absolutely balanced" routing, no prefix cache) runs at 7,839 tokens/s per GPU
    /// (CloudMatrix384 paper, Table 2, "DeepSeek on H800 (Profile)"), 1.95× the service's 4,026 computed tokens/s
    /// per GPU (the same table's "Blog" row = 9.2k × (1 − 0.563)). Against its own steady state the model is
    /// within ±30% (1.07; communication-bound in the model: DeepEP's RDMA all-to-all outlasts the compute on 108 SMs).
    @Test func h800PrefillProfile() throws {
        var plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 4, context: 4096, phase: .prefill)
        plan.quant = .fp8; plan.overlap = true
        let r = try Simulator.run(config: r1, plan: plan, profile: .h800)
        check(r.tokensPerSecondPerChip, published: 7_839, meetsTarget: true, band: 0.7...1.3)
    }

    /// Full-size V3 simulates in well under a second (the CLI's "runs in seconds").
    @Test func fullSizeRunsFast() throws {
        let start = ContinuousClock.now
        let plan = SimulationPlan(chips: 16, ep: 16, tp: 1, batch: 96, context: 4096, phase: .decode)
        let r = try Simulator.run(config: r1, plan: plan, profile: .ascend910C)
        _ = r.traceSlices()
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}
