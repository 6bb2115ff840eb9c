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
    /// so the layer's cache keeps up with the sequence; a request that sampled gets the layer's greedy guess at the
    /// token after its new one (`sampled`), which the scheduler verifies in its next step.
    func draftWithMTP(_ items: [SchedulerOutput.Item], _ logits: [ItemLogits], confirmed: [Int?], sampled: [Bool]) {
        guard let mtp else { return }
        var chunks: [SequenceChunk] = [], hidden: [Matrix] = [], drafting: [RequestState] = []
        for (i, item) in items.enumerated() {
            let r = item.request
            r.mtpDraft = nil
            // A finished request needs no draft (nil), and the token after every settled position must be known.
            guard let n = confirmed[i], n > 0, r.status == .running, let h = logits[i].hidden, n <= h.rows,
                  item.start + n < r.tokens.count else { continue }
            chunks.append(SequenceChunk(tokens: Array(r.tokens[(item.start + 1)...(item.start + n)]), startPosition: item.start,
                                        blockTable: scheduler.kv.blockTable(r.id), logits: sampled[i] ? .last : .none))
            hidden.append(n == h.rows ? h : h.rows(0..<n))
            if sampled[i] { drafting.append(r) }
        }
        guard !chunks.isEmpty else { return }
        let out = mtp.forward(ForwardBatch(chunks), hidden: Matrix(stacking: hidden, cols: hidden[0].cols), cache: caches[0])
        for (row, r) in drafting.enumerated() {
            r.mtpDraft = (position: r.tokens.count, tokens: [Self.argmax(out, row: row)])
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
