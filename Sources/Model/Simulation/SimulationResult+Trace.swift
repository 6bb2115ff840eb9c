import Device

extension SimulationResult {
    /// The step laid out in time, one slice per op per pipe it uses. Layers of a group repeat `count`
    /// times. One micro-batch: ops back to back, comm ops on the Comm track after the preceding compute.
    /// Two micro-batches: the stages where `MicroBatchSchedule` places them (the schedule `stepTime` uses).
    public func traceSlices() -> [TraceSlice] {
        var slices: [TraceSlice] = []
        var t = 0.0
        for g in groups {
            if g.microBatches > 1 {
                layOutScheduled(g, start: t, into: &slices)
            } else {
                for layer in 0..<g.count {
                    layOutSerial(g, label: label(g, layer), start: t + Double(layer) * g.time, into: &slices)
                }
            }
            t += Double(g.count) * g.time
        }
        return slices
    }

    private func label(_ g: LayerGroup, _ layer: Int) -> String { g.count > 1 ? "\(g.name)[\(layer)]" : g.name }

    private func layOutSerial(_ g: LayerGroup, label: String, start: Double, into slices: inout [TraceSlice]) {
        var t = start
        for op in g.ops {
            append(op, name: "\(label).\(op.name)", at: t, into: &slices)
            t += op.total
        }
    }

    private func layOutScheduled(_ g: LayerGroup, start: Double, into slices: inout [TraceSlice]) {
        let schedule = MicroBatchSchedule(ops: g.ops)
        schedule.run(microBatches: g.microBatches, layers: g.count) { seg in
            let stage = schedule.stages[seg.stage], prefix = "\(label(g, seg.layer)).mb\(seg.microBatch)"
            if seg.isComm, let op = stage.commOp {
                append(op, name: "\(prefix).\(op.name)", at: start + seg.start, into: &slices)
                return
            }
            var t = start + seg.start
            for op in stage.computeOps {
                append(op, name: "\(prefix).\(op.name)", at: t, into: &slices)
                t += op.total
            }
        }
    }

    /// One slice per pipe the op uses (comm ops: their Comm time), after its launch cost.
    private func append(_ op: OpCost, name: String, at t: Double, into slices: inout [TraceSlice]) {
        if op.isComm {
            slices.append(TraceSlice(name: name, pipe: .comm, start: t, duration: op.total))
            return
        }
        for (pipe, time) in op.pipes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            slices.append(TraceSlice(name: name, pipe: pipe, start: t + op.launch, duration: time))
        }
    }
}
