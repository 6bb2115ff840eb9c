import Device
import Foundation

// T tokens, E hidden, N streams (hc_mult), V vocabulary

/// DeepSeek-V4 (`DeepseekV4ForCausalLM`) in paper order: the embedding copied into N residual streams;
/// per layer a hyper-connection around attention (sliding / CSA / HCA) and one around the MoE (hash or
/// top-k routed); the hyper head collapses the streams; RMSNorm; output head. The MTP block (`mtp.*`)
/// is loaded into `auxiliaryWeights` and not run.
public final class DeepSeekV4Model: LanguageModel, @unchecked Sendable {
    /// One decoder layer: x ← hc(attention) then hc(MoE), both on the N streams.
    struct Layer: @unchecked Sendable {
        let attentionHC: HyperConnection
        let attentionNorm: DeviceWeight      // [E]
        let attention: V4Attention
        let ffnHC: HyperConnection
        let ffnNorm: DeviceWeight            // [E]
        let moe: V4MoE
    }

    public let config: DeepSeekV4Config
    public let device: any Device
    public let vocabularySize: Int
    public let contextLength: Int
    public let cacheLayout: KVCacheLayout
    /// MTP weights by checkpoint name, kept for speculative decoding.
    public let auxiliaryWeights: [String: DeviceWeight]
    let embedding: DeviceWeight             // [V, E]
    let layers: [Layer]
    let head: HyperHead
    let norm: DeviceWeight                  // [E]
    let lmHead: DeviceWeight                // [V, E]
    let groupPlaces: [GroupPlace?]

    init(config c: DeepSeekV4Config, weights w: WeightLoader) throws {
        let e = c.hidden_size
        guard c.hc_mult > 0, c.sliding_window > 0, c.ropeDim > 0, c.ropeDim % 2 == 0, c.ropeDim <= min(c.head_dim, c.index_head_dim) else {
            throw CheckpointError.invalid("DeepSeek-V4 hc_mult \(c.hc_mult), sliding_window \(c.sliding_window), rope dim \(c.ropeDim)")
        }
        guard c.attention_bias != true, c.mlp_bias != true else { throw CheckpointError.unsupported("DeepSeek-V4 with attention or MLP biases") }
        config = c
        device = w.device
        vocabularySize = c.vocab_size
        contextLength = c.max_position_embeddings
        let p = c.ropeDim
        func rope(_ r: RoPEParameters, width: Int) throws -> PartialRoPE {
            PartialRoPE(table: try r.table(dim: p, maxPositionEmbeddings: c.max_position_embeddings), style: .interleaved, channels: (width - p)..<width)
        }
        let main = try rope(c.mainRoPE, width: c.head_dim)
        let compress = try rope(c.compressRoPE, width: c.head_dim)
        let indexer = try rope(c.compressRoPE, width: c.index_head_dim)
        let kinds = try c.attentionKinds(), routing = try c.routingKinds()
        layers = try (0..<c.num_hidden_layers).map { i in
            let pre = "layers.\(i)"
            return Layer(
                attentionHC: try HyperConnection(w, prefix: "\(pre).hc_attn", config: c),
                attentionNorm: try w.load("\(pre).attn_norm.weight", [e]),
                attention: try V4Attention(w, prefix: "\(pre).attn", config: c, kind: kinds[i], mainRoPE: main, compressRoPE: compress, indexerRoPE: indexer),
                ffnHC: try HyperConnection(w, prefix: "\(pre).hc_ffn", config: c),
                ffnNorm: try w.load("\(pre).ffn_norm.weight", [e]),
                moe: try V4MoE(w, prefix: "\(pre).ffn", config: c, routing: routing[i]))
        }
        embedding = try w.load("embed.weight", [c.vocab_size, e])
        head = try HyperHead(w, config: c)
        norm = try w.load("norm.weight", [e])
        lmHead = c.tie_word_embeddings == true ? embedding : try w.load("head.weight", [c.vocab_size, e])
        cacheLayout = Self.cacheLayout(c, kinds: kinds, attention: layers.map(\.attention))
        groupPlaces = Self.groupPlaces(kinds, groups: cacheLayout.groups)
        var mtp: [String: DeviceWeight] = [:]
        for name in w.checkpoint.names where DeepSeekV4Names.canonical(name).hasPrefix("mtp.") {
            mtp[name] = try w.device.upload(try w.checkpoint.tensor(name))
        }
        auxiliaryWeights = mtp
    }

    public var hiddenSize: Int { norm.shape[0] }

    public func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        run(batch, step: StepContext(batch: batch, cache: cache)) { l, attention in attention.uniformPlaces(cache, layer: l) }
    }

    /// Runs on the per-layer-type cache of `cacheLayout.groups` (each chunk's `blockTable` must be its
    /// table of group 0, the window group).
    public func forward(_ batch: ForwardBatch, groupCaches: [KVBlockStorage]) -> Matrix {
        precondition(groupCaches.count == cacheLayout.groups.count, "one store per cache group")
        return run(batch, step: StepContext(batch: batch, cache: groupCaches[0])) { l, attention in
            let window = CachePlace(storage: groupCaches[0], layer: l, column: 0, group: 0)
            guard let at = groupPlaces[l] else { return attention.places(window: window, raw: window, entries: { _ in window }) }
            return attention.places(window: window, raw: CachePlace(storage: groupCaches[1], layer: at.rawLayer, column: 0, group: 1),
                                    entries: { CachePlace(storage: groupCaches[at.entryGroup], layer: at.entryLayer, column: $0, group: at.entryGroup) })
        }
    }

    private func run(_ batch: ForwardBatch, step: StepContext, places: (Int, V4Attention) -> V4LayerPlaces) -> Matrix {
        let n = config.hc_mult
        let x = device.embedding(step.tokens, table: embedding)                                   // [T, E]
        var h = Matrix(rows: x.rows, cols: n * x.cols,
                       data: (0..<x.rows).flatMap { t in (0..<n).flatMap { _ in x.row(t) } })   // [T, N·E]
        for (l, layer) in layers.enumerated() {
            var (input, post, comb) = layer.attentionHC.split(h)
            let a = layer.attention(device.rmsNorm(input, weight: layer.attentionNorm, eps: config.eps), step: step,
                                    places: places(l, layer.attention))
            h = layer.attentionHC.merge(h, output: a, post: post, comb: comb)
            (input, post, comb) = layer.ffnHC.split(h)
            let f = layer.moe(device.rmsNorm(input, weight: layer.ffnNorm, eps: config.eps), tokens: step.tokens)
            h = layer.ffnHC.merge(h, output: f, post: post, comb: comb)
        }
        let hidden = device.rmsNorm(step.logitRows(head(h)), weight: norm, eps: config.eps)   // [rows, E]
        return batch.output == .hidden ? hidden : device.matmul(hidden, lmHead)               // [rows, V]
    }

    /// Where a compressed layer's state sits in the cache groups.
    struct GroupPlace {
        let rawLayer: Int
        let entryGroup: Int
        let entryLayer: Int
    }

    /// Per layer (nil for sliding layers): its layer in the compressor-state group and in its entry group.
    static func groupPlaces(_ kinds: [DeepSeekV4Config.AttentionKind], groups: [KVCacheGroup]) -> [GroupPlace?] {
        let groupOf: [DeepSeekV4Config.AttentionKind: Int?] = [.compressedSparse: groups.firstIndex { $0.name == "csa entries" },
                                                              .heavilyCompressed: groups.firstIndex { $0.name == "hca entries" }]
        var raw = 0, perGroup: [Int: Int] = [:]
        return kinds.map { kind in
            guard let g = groupOf[kind] ?? nil else { return nil }
            defer { raw += 1; perGroup[g, default: 0] += 1 }
            return GroupPlace(rawLayer: raw, entryGroup: g, entryLayer: perGroup[g, default: 0])
        }
    }

    /// The uniform layout (one slot per token per layer, as wide as the widest layer needs), each
    /// layer's growth, and the per-layer-type groups: the window kv of every layer; the compressors' raw
    /// state (read for 2·m tokens); the CSA entries with their indexer keys (1/m); the HCA entries (1/m').
    static func cacheLayout(_ c: DeepSeekV4Config, kinds: [DeepSeekV4Config.AttentionKind], attention: [V4Attention]) -> KVCacheLayout {
        let specs = zip(kinds, attention).map { kind, a -> KVLayerSpec in
            kind == .sliding ? .slidingWindow(window: c.sliding_window, width: c.head_dim)
                : .compressed(window: c.sliding_window, windowWidth: c.head_dim, rate: c.compressRate(kind), entryWidth: a.entryWidth, pendingWidth: a.rawWidth)
        }
        let compressed = attention.filter { $0.compressor != nil }
        var groups = [KVCacheGroup(name: "window", layers: c.num_hidden_layers, width: c.head_dim, windowTokens: c.sliding_window)]
        if let widest = compressed.map(\.rawWidth).max() {
            let reach = compressed.map { max($0.compressor!.rawWindow, $0.indexer?.compressor.rawWindow ?? 0) }.max()!
            groups.append(KVCacheGroup(name: "compressor state", layers: compressed.count, width: widest, windowTokens: reach))
        }
        for (name, kind) in [("csa entries", DeepSeekV4Config.AttentionKind.compressedSparse), ("hca entries", .heavilyCompressed)] {
            let members = zip(kinds, attention).filter { $0.0 == kind }.map(\.1)
            guard let first = members.first else { continue }
            groups.append(KVCacheGroup(name: name, layers: members.count, width: first.entryWidth, tokensPerEntry: c.compressRate(kind)))
        }
        return KVCacheLayout(layers: c.num_hidden_layers, width: attention.map(\.slotWidth).max() ?? c.head_dim, layerSpecs: specs, groups: groups)
    }
}

/// DeepSeek-V4 checkpoints name tensors as DeepSeek's release does (`layers.0.attn.wq_a.weight`,
/// `embed.weight`, `head.weight`, `hc_head_fn`, `mtp.0.*`); transformers' `save_pretrained` writes the
/// same names under `model.` except `embed_tokens`, `hc_head.hc_fn/…`. The loader asks for the
/// release's names and this maps either spelling onto them.
enum DeepSeekV4Names {
    static func canonical(_ stored: String) -> String {
        var name = stored.hasPrefix("model.") ? String(stored.dropFirst("model.".count)) : stored
        let renames = ["embed_tokens.weight": "embed.weight", "lm_head.weight": "head.weight",
                       "hc_head.hc_fn": "hc_head_fn", "hc_head.hc_base": "hc_head_base", "hc_head.hc_scale": "hc_head_scale"]
        if let renamed = renames[name] { name = renamed }
        return name
    }

    /// Canonical name → stored name for every tensor of the checkpoint.
    static func aliases(_ names: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for stored in names {
            let key = canonical(stored)
            if let other = out[key], other != stored { throw CheckpointError.invalid("tensors '\(other)' and '\(stored)' are both '\(key)'") }
            out[key] = stored
        }
        return out
    }
}
