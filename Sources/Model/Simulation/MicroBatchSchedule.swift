import Device

/// Micro-batch overlap as DeepSeek runs it (open-infra-index, day 6: "dual micro-batch overlap"): a
/// layer is a chain of stages, each some compute then one communication (dispatch, combine); micro-batches
/// take turns on one compute stream and one comm stream, in order, and a stage of a micro-batch starts when
/// both its stream is free and its own previous stage has finished.
///
/// NOTE: the ideal `n·max(compute, comm)` assumes every comm stage fits exactly under the other micro-batch's
/// compute. When a comm stage is longer than the compute it is paired with (decode combine vs the short MoE
/// stage), the compute stream idles; list-scheduling the stages measures that instead of assuming it away.
struct MicroBatchSchedule {
    /// (compute seconds, then comm seconds) per stage, in layer order.
    let stages: [(compute: Double, comm: Double)]

    init(ops: [OpCost]) {
        var stages: [(Double, Double)] = []
        var compute = 0.0
        for op in ops {
            if op.isComm {
                stages.append((compute, op.total))
                compute = 0
            } else {
                compute += op.total
            }
        }
        // Compute after the last communication (the residual add of the combined output) feeds the next
        // layer: in steady state it runs with that layer's first stage.
        if stages.isEmpty { stages.append((compute, 0)) } else { stages[0].0 += compute }
        self.stages = stages
    }

    /// Steady-state time per layer for `microBatches` micro-batches: the distance between the starts of the
    /// last two of `layers` simulated layers.
    func period(microBatches: Int, layers: Int = 6) -> Double {
        var computeFree = 0.0, commFree = 0.0
        var ready = [Double](repeating: 0, count: microBatches)
        var layerStarts: [Double] = []
        for _ in 0..<layers {
            for (i, stage) in stages.enumerated() {
                for mb in 0..<microBatches {
                    let start = max(computeFree, ready[mb])
                    if i == 0 && mb == 0 { layerStarts.append(start) }
                    computeFree = start + stage.compute
                    ready[mb] = computeFree
                }
                guard stage.comm > 0 else { continue }
                for mb in 0..<microBatches {
                    let start = max(commFree, ready[mb])
                    commFree = start + stage.comm
                    ready[mb] = commFree
                }
            }
        }
        return layerStarts[layers - 1] - layerStarts[layers - 2]
    }
}
