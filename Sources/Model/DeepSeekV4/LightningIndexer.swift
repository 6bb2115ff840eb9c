import Device
import Foundation

// T tokens, E hidden, Q q_lora_rank, Hi indexer heads, Di indexer head dim, n compressed entries

/// DeepSeek-V4's Lightning indexer (paper §2.3.1): its own compressed keys K^I (a `KVCompressor` of
/// width Di), queries from the attention's low-rank query, and per-query top-k over the entries the
/// query may see: score_w = Σ_h w_h · Di^−½ · ReLU(q_h · K^I_w), w_h = (x · W_w)_h · Hi^−½.
struct LightningIndexer: @unchecked Sendable {
    let device: any Device
    let compressor: KVCompressor
    let queryUp: DeviceWeight          // [Hi·Di, Q]
    let headWeights: DeviceWeight      // [Hi, E]
    let heads: Int
    let topK: Int

    init(_ w: WeightLoader, prefix: String, config c: DeepSeekV4Config, rope: PartialRoPE, rate: Int) throws {
        device = w.device
        (heads, topK) = (c.index_n_heads, c.index_topk)
        compressor = try KVCompressor(w, prefix: "\(prefix).compressor", rate: rate, width: c.index_head_dim, overlap: true,
                                      hidden: c.hidden_size, rope: rope, eps: c.eps)
        queryUp = try w.load("\(prefix).wq_b.weight", [c.index_n_heads * c.index_head_dim, c.q_lora_rank])
        headWeights = try w.load("\(prefix).weights_proj.weight", [c.index_n_heads, c.hidden_size])
    }

    /// Each query's chosen entries (indices < (p+1)/m), best first. x: [t, E], qr: [t, Q] of one sequence.
    func select(x: Matrix, qr: Matrix, chunk: SequenceChunk, keys place: CachePlace) -> [[Int]] {
        let m = compressor.rate
        let positions = Array(chunk.positions)
        let visible = positions.map { ($0 + 1) / m }
        let keys = compressor.entries(count: visible.max() ?? 0, at: place, chunk: chunk)   // [n, Di]
        var q = device.matmul(qr, queryUp)                                                   // [t, Hi·Di]
        compressor.rope.apply(&q, heads: heads, positions: positions, device: device)
        var w = device.matmul(x, headWeights)                                                // [t, Hi]
        let headScale = 1 / Float(heads).squareRoot()
        for i in w.data.indices { w.data[i] *= headScale }
        let scores = device.indexScores(q: q, headWeights: w, keys: keys, visible: visible, scale: 1 / Float(compressor.width).squareRoot())
        return scores.map { MoEGate.topIndices($0, min(topK, $0.count)) }
    }
}
