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

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.layers, capacity: min(capacity, config.contextLength), rowWidth: config.kvHeads * config.headDim)
    }

    public func forward(_ tokens: [Int], cache: inout KVCache, logits rows: LogitRows) -> Matrix {
        let c = config
        let positions = Array(cache.count..<(cache.count + tokens.count))
        let shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot())
        var x = device.embedding(tokens, table: embedding)                     // [T, E]
        for (l, layer) in layers.enumerated() {
            let h = device.rmsNorm(x, weight: layer.attnNorm, eps: c.rmsNormEps)
            var q = device.matmul(h, layer.wq)                                   // [T, H·D]
            var k = device.matmul(h, layer.wk)                                   // [T, G·D]
            let v = device.matmul(h, layer.wv)                                   // [T, G·D]
            device.rope(&q, heads: c.heads, headDim: c.headDim, positions: positions, theta: c.ropeTheta, style: ropeStyle)
            device.rope(&k, heads: c.kvHeads, headDim: c.headDim, positions: positions, theta: c.ropeTheta, style: ropeStyle)
            cache.append(layer: l, k: k, v: v)
            let attn = cache.keys[l].withUnsafeBufferPointer { kp in
                cache.values[l].withUnsafeBufferPointer { vp in
                    device.attention(q: q, keys: kp, values: vp, positions: positions, shape: shape)   // [T, H·D]
                }
            }
            device.add(&x, device.matmul(attn, layer.wo))
            let h2 = device.rmsNorm(x, weight: layer.ffnNorm, eps: c.rmsNormEps)
            let act = device.siluMul(gate: device.matmul(h2, layer.gate), up: device.matmul(h2, layer.up))   // [T, F]
            device.add(&x, device.matmul(act, layer.down))
        }
        cache.advance(by: tokens.count)
        if rows == .last, x.rows > 1 {
            x = Matrix(rows: 1, cols: x.cols, data: x.row(x.rows - 1))
        }
        return device.matmul(device.rmsNorm(x, weight: outputNorm, eps: c.rmsNormEps), output)   // [rows, V]
    }
}
