import Device
import Model

extension EngineConfiguration {
    /// The multi-token-prediction layer the engine drafts with: the model's, when speculative decoding is on with
    /// `SpeculativeMethod.mtp` and the model's cache is uniform (a compressing per-layer-type cache cannot take the
    /// positions a rejected draft wrote).
    public func multiTokenPredictor(for model: any LanguageModel) -> MultiTokenPredictor? {
        guard scheduler.speculativeMethod == .mtp, scheduler.speculativeTokens > 0, model.cacheLayout.groups.isEmpty else { return nil }
        return model.multiTokenPredictor
    }

    /// The cache the engine keeps for `model`: the model's layers, plus the MTP layer's own when it drafts.
    public func cacheLayout(for model: any LanguageModel) -> KVCacheLayout {
        var layout = model.cacheLayout
        if multiTokenPredictor(for: model) != nil { layout.layers += 1 }
        return layout
    }
}

extension EngineCore {
    /// Runs the MTP layer over the positions each item settled this step (`confirmed`: its positions that now hold the
    /// sequence's own tokens, from the item's start), each with the token after it and the main pass's hidden state,
    /// so the layer's cache keeps up with the sequence. A request that sampled (`sampled`) gets the layer's greedy
    /// guess at the token after its new one, and with `speculativeTokens` > 1 further guesses, each from the layer's
    /// own output at the position before (as vLLM chains MTP drafts); the scheduler verifies them in its next step.
    func draftWithMTP(_ items: [SchedulerOutput.Item], _ logits: [ItemLogits], confirmed: [Int?], sampled: [Bool]) {
        guard let mtp, case .mtp(let most)? = scheduler.drafts else { return }
        // Guesses only while the scheduler will verify them (its cache entries the layer keeps up with regardless).
        let guessing = scheduler.running.count <= scheduler.config.speculativeMaxRunning
        var chunks: [SequenceChunk] = [], hidden: [HiddenRows] = [], drafting: [(request: RequestState, wanted: Int)] = []
        for (i, item) in items.enumerated() {
            let r = item.request
            r.mtpDraft = nil
            // A finished request needs no draft (nil), and the token after every settled position must be known.
            guard let n = confirmed[i], n > 0, r.status == .running, n <= logits[i].hidden.reduce(0, { $0 + $1.rows.count }),
                  item.start + n < r.tokens.count else { continue }
            // As many as the scheduler could verify next step (its budget holds the token and its drafts).
            let wanted = sampled[i] && guessing ? min(most, scheduler.draftLimit(r), scheduler.config.maxNumBatchedTokens - 1) : 0
            chunks.append(SequenceChunk(tokens: Array(r.tokens[(item.start + 1)...(item.start + n)]), startPosition: item.start,
                                        blockTable: scheduler.kv.blockTable(r.id), logits: wanted > 0 ? .last : .none,
                                        generated: item.start >= r.request.promptTokenIDs.count))
            var left = n    // the first n of the item's rows
            for part in logits[i].hidden where left > 0 {
                hidden.append(HiddenRows(matrix: part.matrix, rows: part.rows.lowerBound..<(part.rows.lowerBound + min(left, part.rows.count))))
                left -= min(left, part.rows.count)
            }
            if wanted > 0 { drafting.append((r, wanted)) }
        }
        guard !chunks.isEmpty else { return }
        var out = mtp.forwardKeepingHidden(ForwardBatch(chunks), hidden: Self.gather(hidden), cache: caches[0])
        var guesses = drafting.indices.map { [Self.argmax(out.logits, row: $0)] }
        // Further guesses: guess j sits at the position after guess j - 1's, which the main model has not run.
        var rows = Array(drafting.indices)      // each chaining request's row in `out`
        for j in 1..<max(1, drafting.map(\.wanted).max() ?? 1) {
            var next: [SequenceChunk] = [], inputs: [Matrix] = [], nextRows: [Int] = []
            for (k, row) in rows.enumerated() where drafting[row].wanted > j {
                let r = drafting[row].request
                let position = r.tokens.count - 2 + j
                // Its cache entry needs a block: a spare one (`Scheduler.reserve`, for a position the request's next
                // step writes anyway), or the chain stops.
                guard scheduler.reserve(r, totalTokens: position + 1) else { continue }
                next.append(SequenceChunk(tokens: [guesses[row][j - 1]], startPosition: position, blockTable: scheduler.kv.blockTable(r.id),
                                          logits: .last, generated: true))
                inputs.append(out.hidden.rows(k..<(k + 1)))
                nextRows.append(row)
            }
            guard !next.isEmpty else { break }
            out = mtp.forwardKeepingHidden(ForwardBatch(next), hidden: Matrix(stacking: inputs, cols: inputs[0].cols), cache: caches[0])
            for (k, row) in nextRows.enumerated() { guesses[row].append(Self.argmax(out.logits, row: k)) }
            rows = nextRows
        }
        for (row, d) in drafting.enumerated() {
            d.request.mtpDraft = (position: d.request.tokens.count, tokens: guesses[row])
        }
    }

    /// The rows of every piece, in turn, in one matrix (the one copy the MTP pass makes of the main pass's states).
    private static func gather(_ pieces: [HiddenRows]) -> Matrix {
        let cols = pieces[0].matrix.cols
        return Matrix(rows: pieces.reduce(0) { $0 + $1.rows.count }, cols: cols) { out in
            var at = out
            for p in pieces {
                p.matrix.data.withUnsafeBufferPointer { src in at.update(from: src.baseAddress! + p.rows.lowerBound * cols, count: p.rows.count * cols) }
                at += p.rows.count * cols
            }
        }
    }

    private static func argmax(_ m: Matrix, row: Int) -> Int {
        m.data.withUnsafeBufferPointer { p in
            var best = 0, value = -Float.infinity
            for c in 0..<m.cols where p[row * m.cols + c] > value { (best, value) = (c, p[row * m.cols + c]) }
            return best
        }
    }
}
