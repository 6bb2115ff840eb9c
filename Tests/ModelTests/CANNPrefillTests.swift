import Testing
import Device
@testable import Model

/// W8A8 prefill is costed kernel for kernel as Huawei's DeepSeek-R1 prefill recipe runs it (cann-recipes-infer;
/// DeepSeekOpBuilder+CANNPrefill.swift lists the files): its own quantisation pass before every linear, bf16
/// kv_b_proj, an fp32 router, int32 gate/up outputs. Decode (fused MLA-prolog / MC2 kernels) and other formats keep
/// the generic sequence.
@Suite struct CANNPrefillTests {
    let r1 = DeepSeekConfig.builtin("deepseek-r1")!
    let recipeOnly: Set = ["q_a_quant", "kv_a_quant", "q_b_quant", "o_quant", "shared_quant", "q_rope", "k_rope_repeat",
                           "router_cast", "attn_add_norm", "ffn_add_norm"]

    func moeOps(_ phase: SimulationPlan.Phase, _ quant: SimulationPlan.Quantisation) throws -> [OpCost] {
        var plan = SimulationPlan(chips: 16, ep: 16, tp: 1, batch: 2, context: 1024, phase: phase)
        plan.quant = quant
        let r = try Simulator.run(config: r1, plan: plan, profile: .ascend910C)
        return try #require(r.groups.first { $0.name == "moe" }).ops
    }

    @Test func onlyW8A8PrefillRunsTheRecipeKernels() throws {
        let prefill = Set(try moeOps(.prefill, .w8a8).map(\.name))
        #expect(recipeOnly.isSubset(of: prefill))
        // The residual add is fused into the next layer's npu_add_rms_norm.
        #expect(!prefill.contains("residual"))
        for (phase, quant) in [(SimulationPlan.Phase.decode, SimulationPlan.Quantisation.w8a8), (.prefill, .fp8), (.prefill, .bf16)] {
            let ops = Set(try moeOps(phase, quant).map(\.name))
            #expect(recipeOnly.isDisjoint(with: ops), "\(phase) \(quant)")
            #expect(ops.contains("residual"))
        }
    }

    /// kv_b_proj is left unquantised by the recipe's converter, so it runs on the bf16 cube rate while the other
    /// linears run at the int8 rate; the router's operands are fp32.
    @Test func recipeDtypes() throws {
        let ops = Dictionary(uniqueKeysWithValues: try moeOps(.prefill, .w8a8).map { ($0.name, $0) })
        let p = AscendProfile.ascend910C
        #expect(ops["kv_b_proj"]?.peak == p.peakFLOPS(.bf16))
        #expect(ops["o_proj"]?.peak == p.peakFLOPS(.int8))
        #expect(ops["q_b_proj"]?.peak == p.peakFLOPS(.int8))
        let tokens = 1024.0, h = Double(r1.hidden_size)
        // The router reads fp32 activations (the cast's output) instead of bf16.
        let router = try #require(ops["router"])
        #expect(router.bytes >= tokens * h * 4)
    }

    /// The grouped gate/up matmul writes int32 (4 B) instead of bf16, and the dequant-SwiGLU-quant reads it: each
    /// adds rows × 2·moe_intermediate × 2 B to the generic sequence's traffic.
    @Test func gateUpWritesInt32() throws {
        var plan = SimulationPlan(chips: 16, ep: 16, tp: 1, batch: 1, context: 1024, phase: .prefill)
        plan.quant = .w8a8
        let model = CostModel(profile: .ascend910C, graphMode: true)
        func cost(_ recipe: Bool, _ name: String) throws -> OpCost {
            var b = DeepSeekOpBuilder(c: r1, plan: plan)
            b.cannPrefill = recipe
            return model.cost(try #require(b.moe(tokens: 1024).first { $0.name == name }))
        }
        let rows = 1024.0 * Double(r1.num_experts_per_tok ?? 0), extra = rows * 2 * Double(r1.moe_intermediate_size) * 2
        #expect(abs(try cost(true, "experts_gate_up").bytes - cost(false, "experts_gate_up").bytes - extra) < 1)
        // ... plus the recipe's fp32 per-row scale of the re-quantised output.
        #expect(abs(try cost(true, "experts_swiglu").bytes - cost(false, "experts_swiglu").bytes - extra - rows * 4) < 1)
    }
}
