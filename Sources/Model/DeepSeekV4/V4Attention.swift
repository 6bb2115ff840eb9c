import Device
import Foundation

// T tokens, E hidden, H heads, D head dim, P rope dim, Q q_lora_rank, g output groups, R o_lora_rank

/// DeepSeek-V4 attention (paper §2.3): shared-KV multi-query attention (one head of D floats that is
/// both key and value) over a sliding window of the last W tokens, plus — in compressed layers — the
/// compressed entries: all of them (HCA) or the indexer's top-k (CSA). Per-head sink logits join the
/// softmax; the output's rope channels are rotated back to the query's position; a grouped low-rank
/// projection maps the H·D outputs to the hidden size.
///
/// State (see `V4LayerPlaces`): each token's kv (D); compressed layers add the compressor's raw
/// projections and entries, CSA the indexer's. In the uniform layout a token's slot holds
/// [kv D | compressor raw | indexer raw | entry D | indexer key Di].
struct V4Attention: @unchecked Sendable {
    let device: any Device
    let heads, headDim, window: Int
    let qDown: DeviceWeight, qDownNorm: DeviceWeight     // [Q, E], [Q]
    let qUp: DeviceWeight                                // [H·D, Q]
    let kvProj: DeviceWeight, kvNorm: DeviceWeight       // [D, E], [D]
    let outputGroups: [DeviceWeight]                     // g × [R, H·D/g]
    let outputUp: DeviceWeight                           // [E, g·R]
    let sinks: [Float]                                   // [H]
    let rope: PartialRoPE
    let compressor: KVCompressor?
    let indexer: LightningIndexer?
    let eps: Float

    init(_ w: WeightLoader, prefix p: String, config c: DeepSeekV4Config, kind: DeepSeekV4Config.AttentionKind,
         mainRoPE: PartialRoPE, compressRoPE: PartialRoPE, indexerRoPE: PartialRoPE) throws {
        let (e, h, d, q, g, r) = (c.hidden_size, c.num_attention_heads, c.head_dim, c.q_lora_rank, c.o_groups, c.o_lora_rank)
        guard (c.num_key_value_heads ?? 1) == 1 else { throw CheckpointError.unsupported("DeepSeek-V4 with num_key_value_heads \(c.num_key_value_heads!)") }
        guard g > 0, (h * d) % g == 0 else { throw CheckpointError.invalid("o_groups \(g) does not divide \(h) heads × \(d)") }
        device = w.device
        (heads, headDim, window, eps) = (h, d, c.sliding_window, c.eps)
        qDown = try w.load("\(p).wq_a.weight", [q, e])
        qDownNorm = try w.load("\(p).q_norm.weight", [q])
        qUp = try w.load("\(p).wq_b.weight", [h * d, q])
        kvProj = try w.load("\(p).wkv.weight", [d, e])
        kvNorm = try w.load("\(p).norm.weight", [d])
        let groupWidth = h * d / g
        let oA = try w.values("\(p).wo_a.weight", [g * r, groupWidth])
        outputGroups = try (0..<g).map { i in
            try w.upload(derived: "\(p).wo_a.weight[\(i)]", values: Array(oA[(i * r * groupWidth)..<((i + 1) * r * groupWidth)]), shape: [r, groupWidth])
        }
        outputUp = try w.load("\(p).wo_b.weight", [e, g * r])
        sinks = try w.values("\(p).attn_sink", [h])
        rope = kind == .sliding ? mainRoPE : compressRoPE
        let rate = c.compressRate(kind)
        switch kind {
        case .sliding:
            (compressor, indexer) = (nil, nil)
        case .heavilyCompressed, .compressedSparse:
            guard rate > 0 else { throw CheckpointError.invalid("compress rate \(rate) for \(kind.rawValue)") }
            let sparse = kind == .compressedSparse
            compressor = try KVCompressor(w, prefix: "\(p).compressor", rate: rate, width: d, overlap: sparse, hidden: e,
                                          rope: compressRoPE, eps: c.eps)
            indexer = sparse ? try LightningIndexer(w, prefix: "\(p).indexer", config: c, rope: indexerRoPE, rate: rate) : nil
        }
    }

    /// Floats of raw compressor (and indexer) state per token.
    var rawWidth: Int { (compressor?.rawWidth ?? 0) + (indexer?.compressor.rawWidth ?? 0) }
    /// Floats per compressed entry (the entry, and the indexer key).
    var entryWidth: Int { compressor == nil ? 0 : headDim + (indexer?.compressor.width ?? 0) }
    /// Floats this layer uses in each token's slot of the uniform layout: [kv | raw | entry].
    var slotWidth: Int { headDim + rawWidth + entryWidth }

    /// This layer's places in the uniform layout (every state in the slot of a token; an entry in the
    /// slot of the token that closes its window).
    func uniformPlaces(_ cache: KVBlockStorage, layer: Int) -> V4LayerPlaces {
        let window = CachePlace(storage: cache, layer: layer, column: 0)
        guard let compressor else { return V4LayerPlaces(window: window, compressor: nil, indexer: nil) }
        let entries = headDim + rawWidth
        return places(window: window, raw: CachePlace(storage: cache, layer: layer, column: headDim),
                      entries: { CachePlace(storage: cache, layer: layer, column: entries + $0, tokensPerIndex: compressor.rate) })
    }

    /// The places given the window place, the start of the raw state, and the entry place at a column offset.
    func places(window: CachePlace, raw: CachePlace, entries: (Int) -> CachePlace) -> V4LayerPlaces {
        guard let compressor else { return V4LayerPlaces(window: window, compressor: nil, indexer: nil) }
        func shifted(_ p: CachePlace, by n: Int) -> CachePlace {
            CachePlace(storage: p.storage, layer: p.layer, column: p.column + n, group: p.group, tokensPerIndex: p.tokensPerIndex)
        }
        return V4LayerPlaces(window: window, compressor: (raw, entries(0)),
                             indexer: indexer.map { _ in (shifted(raw, by: compressor.rawWidth), entries(headDim)) })
    }

    func callAsFunction(_ x: Matrix, step: StepContext, places: V4LayerPlaces) -> Matrix {
        let (h, d) = (heads, headDim)
        let qr = device.rmsNorm(device.matmul(x, qDown), weight: qDownNorm, eps: eps)     // [T, Q]
        var q = device.matmul(qr, qUp).unitRMSNormed(width: d, eps: eps)                   // [T, H·D]
        rope.apply(&q, heads: h, positions: step.positions, device: device)
        var kv = device.rmsNorm(device.matmul(x, kvProj), weight: kvNorm, eps: eps)        // [T, D]
        rope.apply(&kv, heads: 1, positions: step.positions, device: device)
        places.window.write(kv, slots: places.window.tokenSlots(step), device: device)
        if let compressor, let at = places.compressor { compressor.update(x, step: step, raw: at.raw, entries: at.entries) }
        if let indexer, let at = places.indexer { indexer.compressor.update(x, step: step, raw: at.raw, entries: at.entries) }
        let parts = zip(step.rowRanges, step.batch.chunks).map { range, chunk in
            attend(q: q.rows(range), x: x.rows(range), qr: qr.rows(range), chunk: chunk, places: places)
        }
        var o = Matrix(concatenating: parts, cols: h * d)                                  // [T, H·D]
        rope.unapply(&o, heads: h, positions: step.positions, device: device)
        let g = outputGroups.count
        let grouped = device.groupedMatmul(o.headMajor(heads: g), outputGroups, groupSizes: Array(repeating: x.rows, count: g))
            .tokenMajor(heads: g)                                                          // [T, g·R]
        return device.matmul(grouped, outputUp)                                            // [T, E]
    }

    /// One sequence's queries over its window and compressed entries: [t, H·D].
    private func attend(q: Matrix, x: Matrix, qr: Matrix, chunk: SequenceChunk, places: V4LayerPlaces) -> Matrix {
        let positions = Array(chunk.positions)
        guard !positions.isEmpty else { return Matrix(zeros: 0, heads * headDim) }
        let first = max(0, chunk.startPosition - window + 1), last = chunk.positions.upperBound - 1
        let recent = places.window.read(first..<(last + 1), chunk, count: headDim, device: device)   // [w, D]
        var keys = positions.map { p in Array((max(first, p - window + 1) - first)...(p - first)) }
        var entries = recent
        if let compressor, let at = places.compressor {
            let count = (last + 1) / compressor.rate
            let compressed = compressor.entries(count: count, at: at.entries, chunk: chunk)                 // [n, D]
            entries = Matrix(concatenating: [recent, compressed], cols: headDim)
            let chosen = places.indexer.flatMap { at in indexer?.select(x: x, qr: qr, chunk: chunk, keys: at.entries) }
                ?? positions.map { Array(0..<(($0 + 1) / compressor.rate)) }
            for t in keys.indices { keys[t] += chosen[t].map { recent.rows + $0 } }
        }
        let shape = LatentAttentionShape(heads: heads, keyDim: headDim, valueDim: headDim, scale: 1 / Float(headDim).squareRoot())
        return device.selectedAttention(q: q, entries: entries, keys: keys, sinks: sinks, shape: shape)
    }
}
