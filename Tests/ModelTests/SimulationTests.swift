import Foundation
import Testing
import Device
@testable import Model

/// Timing-only simulation: built-in configs, memory accounting, the Perfetto trace.
@Suite struct SimulationTests {
    @Test func builtinConfigsHaveThePublishedShapes() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        #expect(v3.hidden_size == 7168 && v3.num_hidden_layers == 61 && v3.n_routed_experts == 256)
        #expect((v3.kv_lora_rank + v3.qk_rope_head_dim) * 2 * v3.num_hidden_layers == 70_272)
        let lite = try #require(DeepSeekConfig.builtin("deepseek-v2-lite"))
        #expect(lite.q_lora_rank == nil && lite.num_hidden_layers == 27 && lite.num_experts_per_tok == 6)
    }

    @Test func v3WeightsDoNotFitOneChip() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        var plan = SimulationPlan(chips: 1, ep: 1, tp: 1, batch: 1, context: 1024, phase: .decode)
        plan.quant = .bf16
        #expect(throws: SimulationError.self) { try Simulator.run(config: v3, plan: plan, profile: .ascend910C) }
    }

    @Test func planMustDivideChips() throws {
        let lite = try #require(DeepSeekConfig.builtin("deepseek-v2-lite"))
        let plan = SimulationPlan(chips: 16, ep: 3, tp: 1, batch: 4, context: 128, phase: .decode)
        #expect(throws: SimulationError.self) { try Simulator.run(config: lite, plan: plan, profile: .ascend910B2) }
    }

    /// Prefill over 4 nodes of 910B2 is comm-heavy, so two micro-batches win. (In memory-bound decode they
    /// can lose: each micro-batch re-reads the weights.)
    /// Inputs that used to trap (overflow, Double → Int of NaN, division by zero), hang (2^62 layers) or print
    /// inf/NaN/negative times are errors that name the value.
    @Test func outOfRangeInputsAreErrorsNotTraps() throws {
        let r1 = DeepSeekConfig.builtin("deepseek-r1")!
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        func plan(_ change: (inout SimulationPlan) -> Void) -> SimulationPlan {
            var p = SimulationPlan(chips: 16, ep: 16, tp: 1, batch: 8, context: 1024, phase: .prefill)
            change(&p)
            return p
        }
        for (p, fragment) in [(plan { $0.batch = Int.max }, "batch"), (plan { $0.context = 1 << 40 }, "context"),
                              (plan { $0.prefixHitRate = .nan }, "prefix-hit"), (plan { $0.prefixHitRate = 1 }, "prefix-hit"),
                              (plan { $0.mtpAcceptance = -1 }, "MTP"), (plan { $0.mtpAcceptance = .infinity }, "MTP"),
                              (plan { $0.expertImbalance = .infinity }, "imbalance"), (plan { $0.expertImbalance = 17 }, "imbalance")] {
            #expect(message { _ = try Simulator.run(config: r1, plan: p, profile: .ascend910C) }.contains(fragment), "\(fragment)")
        }
        // Config fields: zero, negative, fractional, absurd, or inconsistent.
        func configError(_ change: String) -> String {
            var json = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(r1)) as! [String: Any]
            for (k, v) in (try! JSONSerialization.jsonObject(with: Data(change.utf8)) as! [String: Any]) { json[k] = v }
            let data = try! JSONSerialization.data(withJSONObject: json)
            return message { _ = try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: data) }
        }
        #expect(configError(#"{"hidden_size": 0}"#).contains("'hidden_size' is 0"))
        #expect(configError(#"{"num_attention_heads": -128}"#).contains("num_attention_heads"))
        #expect(configError(#"{"num_hidden_layers": 61.5}"#).contains("must be an integer, got 61.5"))
        #expect(configError(#"{"num_hidden_layers": 4611686018427387904}"#).contains("num_hidden_layers"))
        #expect(configError(#"{"n_shared_experts": 1099511627776}"#).contains("n_shared_experts"))
        #expect(configError(#"{"num_experts_per_tok": 300}"#).contains("more than the 256 experts"))
        #expect(configError(#"{"first_k_dense_replace": 62}"#).contains("more than the 61 layers"))
        #expect(configError(#"{"vocab_size": "big"}"#).contains("must be an integer, got 'big'"))
        #expect(configError(#"{"q_lora_rank": null}"#).isEmpty)   // V2-Lite has none
        #expect(configError(#"{"rms_norm_eps": -1}"#).contains("'rms_norm_eps' must be a positive number"))
        #expect(configError(#"{"rope_theta": 0}"#).contains("'rope_theta' must be a positive number"))
        // Profiles: every built-in passes; a zero bandwidth, a NaN clock or an efficiency above 1 does not.
        for p in [AscendProfile.ascend910B2, .ascend910C, .ascend950DT, .h800] { try p.validate(source: p.name) }
        var bad = AscendProfile.ascend910C
        bad.hbmBandwidth.value = 0
        #expect(message { try bad.validate(source: "x") }.contains("'hbmBandwidth' is 0.0"))
        bad = .ascend910C
        bad.clockHz.value = .nan
        #expect(message { try bad.validate(source: "x") }.contains("clockHz"))
        bad = .ascend910C
        bad.efficiency.matmulCompute.value = 1.5
        #expect(message { try bad.validate(source: "x") }.contains("matmulCompute"))
        #expect(message { _ = try DeepSeekConfig.load("deepseek-v5") }.contains("neither a built-in model"))
    }

    @Test func overlapHidesCommunication() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        var plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 2, context: 2048, phase: .prefill)
        let serial = try Simulator.run(config: v3, plan: plan, profile: .ascend910B2)
        plan.overlap = true
        let overlapped = try Simulator.run(config: v3, plan: plan, profile: .ascend910B2)
        #expect(overlapped.stepTime < serial.stepTime)
    }

    /// Prefill's high-throughput all-to-all needs the token shuffles around it (expand, sort by expert, restore,
    /// weighted sum); decode's fused kernels do not.
    @Test func onlyPrefillPaysTheTokenShuffles() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        let shuffles: Set = ["init_routing", "re_routing", "unpermute", "finalize_routing"]
        func moeOps(_ phase: SimulationPlan.Phase) throws -> Set<String> {
            let plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 2, context: 1024, phase: phase)
            let moe = try #require(try Simulator.run(config: v3, plan: plan, profile: .ascend910C).groups.first { $0.name == "moe" })
            return Set(moe.ops.map(\.name))
        }
        #expect(shuffles.isSubset(of: try moeOps(.prefill)))
        #expect(shuffles.isDisjoint(with: try moeOps(.decode)))
    }

    /// Two overlapped prefill micro-batches on H800 compute on 108 of 132 SMs (DeepEP's normal kernels hold the
    /// rest); the communication itself and decode are unaffected.
    @Test func overlappedPrefillComputesOnTheCoresCommLeaves() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        var allCores = AscendProfile.h800
        allCores.efficiency.overlapCompute = Sourced(1, "test")
        func op(_ name: String, _ phase: SimulationPlan.Phase, _ profile: AscendProfile) throws -> OpCost {
            var plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 4, context: 2048, phase: phase)
            plan.quant = .fp8; plan.overlap = true
            let moe = try #require(try Simulator.run(config: v3, plan: plan, profile: profile).groups.first { $0.name == "moe" })
            return try #require(moe.ops.first { $0.name == name })
        }
        let shared = try op("experts_gate_up", .prefill, .h800), full = try op("experts_gate_up", .prefill, allCores)
        #expect(abs(shared.pipes[.cube]! / full.pipes[.cube]! - 132.0 / 108) < 1e-9)
        #expect(try op("combine", .prefill, .h800).total == op("combine", .prefill, allCores).total)
        #expect(try op("experts_gate_up", .decode, .h800).total == op("experts_gate_up", .decode, allCores).total)
    }

    /// The routed experts, and only they, are costed as grouped expert GEMMs: halving the profile's grouped
    /// fraction doubles their Cube time and leaves the shared expert and the attention projections alone.
    @Test func onlyRoutedExpertsRunAtTheGroupedFraction() throws {
        let v3 = try #require(DeepSeekConfig.builtin("deepseek-v3"))
        var slowGrouped = AscendProfile.h800
        slowGrouped.efficiency.groupedMatmulCompute.value /= 2
        func ops(_ profile: AscendProfile) throws -> [String: OpCost] {
            var plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: 4, context: 2048, phase: .prefill)
            plan.quant = .fp8
            let moe = try #require(try Simulator.run(config: v3, plan: plan, profile: profile).groups.first { $0.name == "moe" })
            return Dictionary(moe.ops.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }
        let base = try ops(.h800), slow = try ops(slowGrouped)
        for name in ["experts_gate_up", "experts_down"] {
            #expect(abs(try #require(slow[name]?.pipes[.cube]) / (try #require(base[name]?.pipes[.cube])) - 2) < 1e-9, "\(name)")
        }
        for name in ["shared_gate_up", "shared_down", "q_a+kv_a_proj", "q_b_proj", "kv_b_proj", "o_proj", "router"] {
            #expect(try #require(slow[name]).total == (try #require(base[name])).total, "\(name)")
        }
    }

    /// With two micro-batches the trace shows the schedule: micro-batch 0's dispatch starts when its own compute
    /// ends, while micro-batch 1's compute runs under it.
    @Test func traceFollowsTheMicroBatchSchedule() throws {
        let lite = try #require(DeepSeekConfig.builtin("deepseek-v2-lite"))
        var plan = SimulationPlan(chips: 2, ep: 2, tp: 1, batch: 4, context: 256, phase: .decode)
        plan.overlap = true
        let slices = try Simulator.run(config: lite, plan: plan, profile: .ascend910B2).traceSlices()
        let dispatch = try #require(slices.first { $0.name == "moe[0].mb0.dispatch" })
        #expect(dispatch.pipe == .comm)
        let mb0Compute = slices.filter { $0.name.hasPrefix("moe[0].mb0.") && $0.pipe != .comm && $0.start < dispatch.start }
        let mb0End = try #require(mb0Compute.map { $0.start + $0.duration }.max())
        #expect(abs(mb0End - dispatch.start) < 1e-9, "dispatch waits for its own micro-batch's compute")
        let mb1Start = try #require(slices.filter { $0.name.hasPrefix("moe[0].mb1.") }.map(\.start).min())
        #expect(abs(mb1Start - dispatch.start) < 1e-9, "the other micro-batch computes under the dispatch")
    }

    @Test func traceIsChromeTraceJSON() throws {
        let lite = try #require(DeepSeekConfig.builtin("deepseek-v2-lite"))
        var plan = SimulationPlan(chips: 2, ep: 2, tp: 1, batch: 4, context: 256, phase: .decode)
        plan.overlap = true
        let result = try Simulator.run(config: lite, plan: plan, profile: .ascend910B2)
        let data = try PerfettoTrace.json(slices: result.traceSlices(), process: "test")
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" }
        #expect(!slices.isEmpty)
        for e in slices {
            #expect(e["ts"] is Double && e["dur"] is Double && e["pid"] is Int && e["tid"] is Int && e["name"] is String)
        }
        let tracks = Set(slices.compactMap { $0["tid"] as? Int })
        #expect(tracks.count >= 5)   // MTE2, MTE1, Cube, FixPipe, Vector, MTE3, Comm as used
        let names = events.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(Set(names) == Set(Pipe.allCases.map(\.rawValue)))
        let end = slices.map { ($0["ts"] as! Double) + ($0["dur"] as! Double) }.max()!
        #expect(abs(end - result.stepTime * 1e6) / (result.stepTime * 1e6) < 0.01)
    }
}
