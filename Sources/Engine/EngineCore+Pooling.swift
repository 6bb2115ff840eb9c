import Device
import Model

/// An embedding request's pooled state so far: the sum of the final hidden states seen and how many there were.
struct PoolingSum {
    var sum: [Double] = []
    var rows = 0

    mutating func add(_ row: [Float]) {
        if sum.isEmpty { sum = Array(repeating: 0, count: row.count) }
        for i in row.indices { sum[i] += Double(row[i]) }
        rows += 1
    }

    /// The mean of what was added.
    var mean: [Float] { sum.map { Float($0 / Double(max(1, rows))) } }
}

extension EngineCore {
    /// Runs the step's embedding items as one pass that returns final hidden states instead of logits (the output
    /// head does not run), and adds each item's rows to its pooled state: every row for mean pooling, the prompt's
    /// last for last-token pooling.
    func runPooling(_ items: [SchedulerOutput.Item]) {
        let chunks = items.map { item -> SequenceChunk in
            var c = chunk(item, item.start..<(item.start + item.count), samples: item.samples)
            c.logits = item.request.request.pooling == .mean ? .all : (item.samples ? .last : .none)
            return c
        }
        let hidden = forward(ForwardBatch(chunks, output: .hidden))
        var row = 0
        for (item, c) in zip(items, chunks) {
            let r = item.request
            // A request recomputed after a preemption starts its sum again.
            if item.start == 0 { r.pooled = PoolingSum() }
            let n = c.logits == .all ? c.tokens.count : (c.logits == .last ? 1 : 0)
            for j in row..<(row + n) { r.pooled.add(hidden.row(j)) }
            row += n
        }
    }

    /// Ends the embedding items whose prompt is complete: their vector, then `.finished(.stop)`.
    func finishPooled(_ items: [SchedulerOutput.Item]) {
        for item in items where item.samples {
            let r = item.request
            scheduler.finish(r)
            r.onEvent(.embedding(r.pooled.mean))
            r.onEvent(.finished(reason: .stop, usage: usage(of: r)))
            metrics.requestFinished(reason: .stop, seconds: RequestState.now() - r.arrivalTime)
        }
    }
}
