import Device
import Foundation

// T tokens, E hidden, Q q_lora_rank, Hi indexer heads, Di indexer head dim, P qk_rope_head_dim

/// DeepSeek-V3.2's sparse-attention indexer (DSA): one key of Di floats per token, k = LayerNorm(x · W_k),
/// cached beside the MLA latent; queries q = (q_lora residual) · W_q; the first P channels of both
/// rotate (halves style, the MLA rope table). Each query keeps its top-k earlier tokens by
/// score_s = Σ_h w_h · ReLU(Di^−½ · q_h · k_s), w_h = (x · W_w)_h · Hi^−½.
struct TokenIndexer: @unchecked Sendable {
    let device: any Device
    let queryUp: DeviceWeight           // [Hi·Di, Q]
    let keyProj: DeviceWeight           // [Di, E]
    let keyNorm: [Float], keyBias: [Float]   // [Di] each (LayerNorm, ε 1e-6)
    let headWeights: DeviceWeight       // [Hi, E]
    let heads, width, topK: Int
    let rope: PartialRoPE
    /// Cache columns of the key in each token's slot.
    let columns: Range<Int>

    init(_ w: WeightLoader, prefix p: String, config c: DeepSeekConfig, rope table: RoPETable, columnStart: Int) throws {
        guard let heads = c.index_n_heads, let width = c.index_head_dim, let topK = c.index_topk, let q = c.q_lora_rank else {
            throw CheckpointError.missingMetadata("index_n_heads, index_head_dim, index_topk and q_lora_rank (DeepSeek-V3.2)")
        }
        guard width >= c.qk_rope_head_dim, topK > 0 else { throw CheckpointError.invalid("index_head_dim \(width), index_topk \(topK)") }
        let e = c.hidden_size
        device = w.device
        (self.heads, self.width, self.topK) = (heads, width, topK)
        queryUp = try w.load("\(p).wq_b.weight", [heads * width, q])
        keyProj = try w.load("\(p).wk.weight", [width, e])
        keyNorm = try w.values("\(p).k_norm.weight", [width])
        keyBias = try w.values("\(p).k_norm.bias", [width])
        headWeights = try w.load("\(p).weights_proj.weight", [heads, e])
        rope = PartialRoPE(table: table, style: .halves, channels: 0..<c.qk_rope_head_dim)
        columns = columnStart..<(columnStart + width)
    }

    /// Computes and caches the keys of the step's tokens.
    func update(_ x: Matrix, layer: Int, step: StepContext) {
        var k = layerNorm(device.matmul(x, keyProj))                                        // [T, Di]
        rope.apply(&k, heads: 1, positions: step.positions, device: device)
        device.writeCache(step.cache, layer: layer, slots: step.slots, values: k, offset: columns.lowerBound)
    }

    /// Each query's chosen positions (≤ its own), best first. x: [t, E], qr: [t, Q] of one sequence.
    func select(x: Matrix, qr: Matrix, positions: [Int], layer: Int, cache: KVBlockStorage, blockTable: [Int]) -> [[Int]] {
        let visible = positions.map { $0 + 1 }
        let slots = (0..<(visible.max() ?? 0)).map { cache.slot(position: $0, blockTable: blockTable) }
        let keys = device.readCache(cache, layer: layer, slots: slots).columns(columns)     // [S, Di]
        var q = device.matmul(qr, queryUp)                                                   // [t, Hi·Di]
        rope.apply(&q, heads: heads, positions: positions, device: device)
        var w = device.matmul(x, headWeights)                                                // [t, Hi]
        let headScale = 1 / Float(heads).squareRoot()
        for i in w.data.indices { w.data[i] *= headScale }
        let scores = device.indexScores(q: q, headWeights: w, keys: keys, visible: visible, scale: 1 / Float(width).squareRoot())
        return scores.map { MoEGate.topIndices($0, min(topK, $0.count)) }
    }

    /// (x − mean) / sqrt(var + 1e-6) · weight + bias per row (biased variance, as torch's LayerNorm).
    private func layerNorm(_ x: Matrix) -> Matrix {
        var y = x
        for t in 0..<x.rows {
            let row = x.data[(t * x.cols)..<((t + 1) * x.cols)]
            let mean = row.reduce(0, +) / Float(x.cols)
            let variance = row.reduce(Float(0)) { $0 + ($1 - mean) * ($1 - mean) } / Float(x.cols)
            let inv = 1 / (variance + 1e-6).squareRoot()
            for j in 0..<x.cols { y.data[t * x.cols + j] = (x.data[t * x.cols + j] - mean) * inv * keyNorm[j] + keyBias[j] }
        }
        return y
    }
}
