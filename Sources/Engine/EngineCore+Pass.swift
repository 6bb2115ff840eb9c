import Device
import Model

/// What one step's model pass gave an item: the row it samples from, if it samples this step, and the rows of
/// the prompt positions it asked for (a request with `promptLogprobs`).
struct ItemLogits {
    var sample: [Float]?
    /// A speculative item's rows, one per position from its last token through its drafts: row j samples the token
    /// after draft j (the first, after the last token), valid while the drafts before it were accepted.
    var verify: [[Float]] = []
    /// Prompt positions whose next token is still a prompt token, and their row in the pass's logits (kept
    /// there, not copied: a chunk's rows are chunk × vocabulary floats).
    var prompt: [(position: Int, logits: Matrix, row: Int)] = []
    /// The final hidden states of the item's positions, in order (its rows of one pass, or of the prompt pass then the
    /// generated one), when the MTP layer drafts (`EngineCore.mtp`).
    var hidden: [HiddenRows] = []
}

/// Rows of a pass's final hidden states, held where the pass left them (not copied).
struct HiddenRows {
    let matrix: Matrix
    let rows: Range<Int>
}

/// One chunk's share of a pass: its logits rows, and its every row of the hidden states when they were kept.
private struct ChunkOutput {
    let chunk: SequenceChunk
    let logits: Matrix
    let rows: Range<Int>
    var hidden: HiddenRows?
}

extension EngineCore {
    /// Runs the step's items through the model: one pass, or two when generated tokens take their own numerics
    /// (`Device.separatesGeneratedTokens`). Returns each item's logits, in item order.
    func run(_ items: [SchedulerOutput.Item]) -> [ItemLogits] {
        if model.device.separatesGeneratedTokens { return runSeparatingGeneratedTokens(items) }
        let chunks = items.map { chunk($0, $0.start..<($0.start + $0.count), samples: $0.samples) }
        return Self.outputs(chunks, pass(ForwardBatch(chunks))).enumerated().map { itemLogits(items[$0], [$1]) }
    }

    /// A pass's logits, and every row's final hidden state when the MTP layer drafts from them.
    private func pass(_ batch: ForwardBatch) -> (logits: Matrix, hidden: Matrix?) {
        guard mtp != nil else { return (forward(batch), nil) }
        let (logits, hidden) = model.forwardKeepingHidden(batch, cache: caches[0])
        return (logits, hidden)
    }

    /// Each chunk's rows of a pass's output.
    private static func outputs(_ chunks: [SequenceChunk], _ output: (logits: Matrix, hidden: Matrix?)) -> [ChunkOutput] {
        var start = 0
        return zip(chunks, rowRanges(chunks)).map { chunk, rows in
            defer { start += chunk.tokens.count }
            return ChunkOutput(chunk: chunk, logits: output.logits, rows: rows,
                               hidden: output.hidden.map { HiddenRows(matrix: $0, rows: start..<(start + chunk.tokens.count)) })
        }
    }

    /// Positions `range` of the item's request as a chunk of the model pass: every row while the request still
    /// needs prompt logprobs from these positions, else its last row when it samples, else none.
    func chunk(_ item: SchedulerOutput.Item, _ range: Range<Int>, samples: Bool) -> SequenceChunk {
        let r = item.request
        let promptRows = r.needsPromptRows && range.lowerBound + 1 < r.request.promptTokenIDs.count
        // Positions past the request's tokens hold its drafts, each of which needs its row.
        let known = r.tokens.count
        var tokens = Array(r.tokens[range.clamped(to: 0..<known)])
        if range.upperBound > known { tokens += item.drafts[(max(range.lowerBound, known) - known)..<(range.upperBound - known)] }
        let rows: LogitRows = promptRows ? .all : (samples ? (item.drafts.isEmpty ? .last : .all) : .none)
        return SequenceChunk(tokens: tokens, startPosition: range.lowerBound, blockTable: scheduler.kv.blockTable(r.id), logits: rows,
                             groupBlockTables: grouped ? scheduler.kv.blockTables(r.id) : [],
                             generated: range.lowerBound >= r.request.promptTokenIDs.count,
                             prompt: range.upperBound <= r.request.promptTokenIDs.count)
    }

    func forward(_ batch: ForwardBatch) -> Matrix {
        grouped ? model.forward(batch, groupCaches: caches) : model.forward(batch, cache: caches[0])
    }

    /// The step as two passes: every item's prompt positions first, then its generated positions (a recomputed
    /// request has both, and its generated rows attend to the prompt rows the first pass cached). So whether a
    /// token runs with the prompt's or the generated tokens' numerics depends on its position in its own
    /// request, never on what else the step holds.
    private func runSeparatingGeneratedTokens(_ items: [SchedulerOutput.Item]) -> [ItemLogits] {
        var prompt: [SequenceChunk] = [], generated: [SequenceChunk] = [], plan: [(prompt: Int?, generated: Int?)] = []
        for item in items {
            let end = item.start + item.count
            let boundary = min(max(item.request.request.promptTokenIDs.count, item.start), end)
            var entry: (prompt: Int?, generated: Int?) = (nil, nil)
            if boundary > item.start {
                entry.prompt = prompt.count
                prompt.append(chunk(item, item.start..<boundary, samples: item.samples && boundary == end))
            }
            if boundary < end {
                entry.generated = generated.count
                generated.append(chunk(item, boundary..<end, samples: item.samples))
            }
            plan.append(entry)
        }
        let promptOutputs = prompt.isEmpty ? [] : Self.outputs(prompt, pass(ForwardBatch(prompt)))
        let generatedOutputs = generated.isEmpty ? [] : Self.outputs(generated, model.device.runningGeneratedTokens { pass(ForwardBatch(generated)) })
        return items.indices.map { i in
            var parts: [ChunkOutput] = []
            if let p = plan[i].prompt { parts.append(promptOutputs[p]) }
            if let g = plan[i].generated { parts.append(generatedOutputs[g]) }
            return itemLogits(items[i], parts)
        }
    }

    /// Where each chunk's rows are in its pass's logits (`LogitRows`: none, the last, or one per token).
    private static func rowRanges(_ chunks: [SequenceChunk]) -> [Range<Int>] {
        var next = 0
        return chunks.map { c in
            let n = c.logits == .all ? c.tokens.count : (c.logits == .last ? 1 : 0)
            defer { next += n }
            return next..<(next + n)
        }
    }

    /// An item's chunks (in position order) with their pass's logits and rows → its sampling row and its prompt rows.
    private func itemLogits(_ item: SchedulerOutput.Item, _ parts: [ChunkOutput]) -> ItemLogits {
        var out = ItemLogits()
        out.hidden = parts.compactMap(\.hidden)
        if item.samples, let last = parts.last, let row = last.rows.last {
            if item.drafts.isEmpty {
                out.sample = last.logits.row(row)
            } else {
                out.verify = (last.rows.upperBound - item.drafts.count - 1..<last.rows.upperBound).map { last.logits.row($0) }
            }
        }
        let promptCount = item.request.request.promptTokenIDs.count
        for part in parts where part.chunk.logits == .all {
            for (j, row) in part.rows.enumerated() where part.chunk.startPosition + j + 1 < promptCount {
                out.prompt.append((part.chunk.startPosition + j, part.logits, row))
            }
        }
        return out
    }

    /// Turns prompt rows into the request's prompt logprobs, in position order (a position recomputed after a
    /// preemption is not counted twice), and sends them once all are in, before the first token.
    func collectPromptLogprobs(_ item: SchedulerOutput.Item, _ rows: [(position: Int, logits: Matrix, row: Int)]) {
        let r = item.request
        guard r.needsPromptRows, let k = r.request.promptLogprobs else { return }
        let prompt = r.request.promptTokenIDs
        for (p, logits, row) in rows where p == r.promptLogprobs.count {
            r.promptLogprobs.append(TokenLogprobs.compute(logits: logits.row(row), token: prompt[p + 1], k: k))
        }
        guard r.promptLogprobs.count == prompt.count - 1 else { return }
        r.promptLogprobsSent = true
        r.onEvent(.promptLogprobs(r.promptLogprobs))
        r.promptLogprobs = []
    }
}
