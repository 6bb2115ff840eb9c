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
    /// One stage: compute ops back to back, then (except possibly the last stage) one comm op.
    struct Stage {
        var computeOps: [OpCost] = []
        var commOp: OpCost?
        var compute: Double { computeOps.reduce(0) { $0 + $1.total } }
        var comm: Double { commOp?.total ?? 0 }
    }

    /// One placed piece of work: a stage's compute or its comm, for one micro-batch of one layer.
    struct Segment {
        var layer: Int, stage: Int, microBatch: Int
        var isComm: Bool
        var start: Double
    }

    let stages: [Stage]

    init(ops: [OpCost]) {
        var stages: [Stage] = []
        var current = Stage()
        for op in ops {
            if op.isComm {
                current.commOp = op
                stages.append(current)
                current = Stage()
            } else {
                current.computeOps.append(op)
            }
        }
        // Compute after the last communication (the residual add of the combined output) feeds the next
        // layer: in steady state it runs with that layer's first stage.
        if stages.isEmpty { stages.append(current) } else { stages[0].computeOps = current.computeOps + stages[0].computeOps }
        self.stages = stages
    }

    /// Places every segment of `layers` layers, in stream order, and returns each layer's start.
    @discardableResult
    func run(microBatches: Int, layers: Int, visit: (Segment) -> Void = { _ in }) -> [Double] {
        var computeFree = 0.0, commFree = 0.0
        var ready = [Double](repeating: 0, count: microBatches)
        var layerStarts: [Double] = []
        for layer in 0..<layers {
            for (i, stage) in stages.enumerated() {
                for mb in 0..<microBatches {
                    let start = max(computeFree, ready[mb])
                    if i == 0 && mb == 0 { layerStarts.append(start) }
                    visit(Segment(layer: layer, stage: i, microBatch: mb, isComm: false, start: start))
                    computeFree = start + stage.compute
                    ready[mb] = computeFree
                }
                guard stage.comm > 0 else { continue }
                for mb in 0..<microBatches {
                    let start = max(commFree, ready[mb])
                    visit(Segment(layer: layer, stage: i, microBatch: mb, isComm: true, start: start))
                    commFree = start + stage.comm
                    ready[mb] = commFree
                }
            }
        }
        return layerStarts
    }

    /// Steady-state time per layer: the distance between the starts of the last two of `layers` layers.
    func period(microBatches: Int, layers: Int = 6) -> Double {
        let starts = run(microBatches: microBatches, layers: layers)
        return starts[layers - 1] - starts[layers - 2]
    }
}
