import Device
import Foundation

// T tokens, E hidden, H query heads, G kv heads, D head dim, F ffn width, V vocabulary

/// A dense Llama-family decoder: pre-norm blocks of grouped-query attention with RoPE and a SwiGLU
/// MLP, RMSNorm, output head tied to the embedding when the checkpoint has no `output.weight`.
public final class LlamaModel: LanguageModel, @unchecked Sendable {
    struct Layer {
        let attnNorm, wq, wk, wv, wo: DeviceWeight
        let ffnNorm, gate, up, down: DeviceWeight
    }

    public let config: LlamaConfig
    public let device: any Device
    let embedding: DeviceWeight     // [V, E]
    let layers: [Layer]
    let outputNorm: DeviceWeight    // [E]
    let output: DeviceWeight        // [V, E]
    /// GGUF stores Q/K rows permuted so that RoPE rotates adjacent pairs (llama.cpp's layout).
    let ropeStyle: RoPEStyle

    public var vocabularySize: Int { config.vocabularySize }
    public var contextLength: Int { config.contextLength }

    /// Loads the weights of a llama-architecture GGUF file onto `device`.
    public init(gguf: GGUFFile, device: any Device) throws {
        let config = try LlamaConfig(gguf: gguf)
        self.config = config
        self.device = device
        ropeStyle = .interleaved
        let c = config
        func load(_ name: String, _ shape: [Int]) throws -> DeviceWeight {
            let t = try gguf.tensor(name)
            guard t.shape == shape else { throw CheckpointError.invalid("tensor '\(name)' has shape \(t.shape), expected \(shape)") }
            return try device.upload(t)
        }
        embedding = try load("token_embd.weight", [c.vocabularySize, c.hiddenSize])
        layers = try (0..<c.layers).map { i in
            let p = "blk.\(i)."
            return Layer(
                attnNorm: try load(p + "attn_norm.weight", [c.hiddenSize]),
                wq: try load(p + "attn_q.weight", [c.heads * c.headDim, c.hiddenSize]),
                wk: try load(p + "attn_k.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                wv: try load(p + "attn_v.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                wo: try load(p + "attn_output.weight", [c.hiddenSize, c.heads * c.headDim]),
                ffnNorm: try load(p + "ffn_norm.weight", [c.hiddenSize]),
                gate: try load(p + "ffn_gate.weight", [c.intermediateSize, c.hiddenSize]),
                up: try load(p + "ffn_up.weight", [c.intermediateSize, c.hiddenSize]),
                down: try load(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize])
            )
        }
        outputNorm = try load("output_norm.weight", [c.hiddenSize])
        output = gguf.info("output.weight") != nil ? try load("output.weight", [c.vocabularySize, c.hiddenSize]) : embedding
    }

    public var cacheLayout: KVCacheLayout {
        KVCacheLayout(layers: config.layers, width: 2 * config.kvHeads * config.headDim)   // K then V
    }

    public func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        let c = config
        let tokens = batch.chunks.flatMap(\.tokens)
        let positions = batch.chunks.flatMap { Array($0.positions) }
        let slots = batch.chunks.flatMap { ch in ch.positions.map { cache.slot(position: $0, blockTable: ch.blockTable) } }
        let shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot())
        var x = device.embedding(tokens, table: embedding)                     // [T, E]
        for (l, layer) in layers.enumerated() {
            let h = device.rmsNorm(x, weight: layer.attnNorm, eps: c.rmsNormEps)
            var q = device.matmul(h, layer.wq)                                   // [T, H·D]
            var k = device.matmul(h, layer.wk)                                   // [T, G·D]
            let v = device.matmul(h, layer.wv)                                   // [T, G·D]
            device.rope(&q, heads: c.heads, headDim: c.headDim, positions: positions, theta: c.ropeTheta, style: ropeStyle)
            device.rope(&k, heads: c.kvHeads, headDim: c.headDim, positions: positions, theta: c.ropeTheta, style: ropeStyle)
            device.writeCache(cache, layer: l, slots: slots, values: k, offset: 0)
            device.writeCache(cache, layer: l, slots: slots, values: v, offset: c.kvHeads * c.headDim)
            let attn = attention(q, batch: batch, cache: cache, layer: l, shape: shape)   // [T, H·D]
            device.add(&x, device.matmul(attn, layer.wo))
            let h2 = device.rmsNorm(x, weight: layer.ffnNorm, eps: c.rmsNormEps)
            let act = device.siluMul(gate: device.matmul(h2, layer.gate), up: device.matmul(h2, layer.up))   // [T, F]
            device.add(&x, device.matmul(act, layer.down))
        }
        let selected = Self.logitRows(x, batch: batch)                           // [rows, E]
        return device.matmul(device.rmsNorm(selected, weight: outputNorm, eps: c.rmsNormEps), output)   // [rows, V]
    }

    /// Attention runs per sequence (each has its own cache blocks); the rows are stacked back.
    func attention(_ q: Matrix, batch: ForwardBatch, cache: KVBlockStorage, layer: Int, shape: AttentionShape) -> Matrix {
        if batch.chunks.count == 1, let ch = batch.chunks.first {
            return device.pagedAttention(q: q, cache: cache, layer: layer, blockTable: ch.blockTable, positions: Array(ch.positions), shape: shape)
        }
        var row = 0
        let parts = batch.chunks.map { ch -> Matrix in
            defer { row += ch.tokens.count }
            return device.pagedAttention(q: q.rows(row..<(row + ch.tokens.count)), cache: cache, layer: layer,
                                         blockTable: ch.blockTable, positions: Array(ch.positions), shape: shape)
        }
        return Matrix(stacking: parts, cols: q.cols)
    }

    /// The hidden rows whose logits the batch asked for, in chunk order.
    static func logitRows(_ x: Matrix, batch: ForwardBatch) -> Matrix {
        var row = 0
        var parts: [Matrix] = []
        for ch in batch.chunks {
            switch ch.logits {
            case .none: break
            case .last: parts.append(x.rows((row + ch.tokens.count - 1)..<(row + ch.tokens.count)))
            case .all: parts.append(x.rows(row..<(row + ch.tokens.count)))
            }
            row += ch.tokens.count
        }
        return Matrix(stacking: parts, cols: x.cols)
    }
}
