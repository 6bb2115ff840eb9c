import Device
import Testing
@testable import Model

/// Two micro-batches list-scheduled on one compute and one comm stream (hand-computed cases).
@Suite struct MicroBatchScheduleTests {
    func op(_ name: String, compute: Double = 0, comm: Double = 0) -> OpCost {
        var c = OpCost(name: name)
        if comm > 0 { c.pipes[.comm] = comm } else { c.pipes[.cube] = compute }
        return c
    }

    @Test func commThatFitsUnderComputeIsHidden() {
        // Stages (attention 300, dispatch 100), (experts 300, combine 100): each comm fits under the other
        // micro-batch's compute, so a layer takes 2 × 600 = the ideal 2·max(compute, comm).
        let s = MicroBatchSchedule(ops: [op("attn", compute: 300), op("dispatch", comm: 100), op("experts", compute: 300), op("combine", comm: 100)])
        #expect(s.period(microBatches: 2) == 1200)
    }

    @Test func aLongCombineStallsTheShortMoEStage() {
        // DeepSeek-like decode: attention 321, dispatch 133, MoE 97, combine 252 (µs). Ideal would be
        // 2·max(418, 385) = 836; the schedule gives: A.attn 0–321, B.attn 321–642, A.dispatch 321–454,
        // B.dispatch 642–775, A.moe 642–739, B.moe 775–872, A.combine 775–1027, B.combine 1027–1279, and the
        // next A.attn waits for A.combine: period 1027.
        let s = MicroBatchSchedule(ops: [op("attn", compute: 321), op("dispatch", comm: 133), op("moe", compute: 97), op("combine", comm: 252)])
        #expect(s.period(microBatches: 2) == 1027)
        let group = LayerGroup(name: "moe", count: 1, microBatches: 2, ops: s.stagesAsOps)
        #expect(group.time == 1027 && group.time > 2 * max(group.compute, group.comm))
    }

    @Test func computeAfterTheLastCommJoinsTheNextLayer() {
        // The residual after the combine runs with the next layer's first stage: (attn + residual 310, a2a 50).
        let s = MicroBatchSchedule(ops: [op("attn", compute: 300), op("a2a", comm: 50), op("residual", compute: 10)])
        #expect(s.stages.count == 1 && s.stages[0].compute == 310 && s.stages[0].computeOps.first?.name == "residual")
        #expect(s.period(microBatches: 2) == 620)
        #expect(MicroBatchSchedule(ops: [op("mlp", compute: 40)]).period(microBatches: 2) == 80)
    }
}

extension MicroBatchSchedule {
    /// The stages back as ops (compute, then comm), for building a `LayerGroup` in tests.
    var stagesAsOps: [OpCost] { stages.flatMap { $0.computeOps + ($0.commOp.map { [$0] } ?? []) } }
}
