import Device

extension SimulationResult {
    /// The step laid out in time, one slice per op per pipe it uses. Layers of a group repeat `count`
    /// times; compute ops run back to back, comm ops on the Comm track (overlapped from the layer start
    /// with two micro-batches, else after the preceding compute op).
    public func traceSlices() -> [TraceSlice] {
        var slices: [TraceSlice] = []
        var t = 0.0
        for g in groups {
            for layer in 0..<g.count {
                let label = g.count > 1 ? "\(g.name)[\(layer)]" : g.name
                layOut(g, label: label, start: t, into: &slices)
                t += g.time
            }
        }
        return slices
    }

    private func layOut(_ g: LayerGroup, label: String, start: Double, into slices: inout [TraceSlice]) {
        var compute = start, comm = start
        for _ in 0..<g.microBatches {
            for op in g.ops {
                let name = "\(label).\(op.name)"
                if op.isComm {
                    let begin = g.microBatches > 1 ? comm : compute
                    slices.append(TraceSlice(name: name, pipe: .comm, start: begin, duration: op.total))
                    comm = begin + op.total
                    if g.microBatches == 1 { compute = comm }
                } else {
                    for (pipe, time) in op.pipes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                        slices.append(TraceSlice(name: name, pipe: pipe, start: compute + op.launch, duration: time))
                    }
                    compute += op.total
                }
            }
        }
    }
}
