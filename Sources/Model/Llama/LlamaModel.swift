import Device
import Foundation

// E hidden, H query heads, G kv heads, D head dim, F ffn width, V vocabulary

/// A dense Llama-family decoder read from GGUF. It is the same `DecoderModel` the Hugging Face
/// families build (GQA attention with RoPE, SwiGLU MLP, RMSNorm); only the tensor names differ.
public typealias LlamaModel = DecoderModel

extension DecoderModel {
    /// Loads the weights of a llama-architecture GGUF file onto `device`. The output head is tied to
    /// the embedding when the file has no `output.weight`.
    public convenience init(gguf: GGUFFile, device: any Device) throws {
        let c = try LlamaConfig(gguf: gguf)
        func load(_ name: String, _ shape: [Int]) throws -> DeviceWeight {
            let t = try gguf.tensor(name)
            guard t.shape == shape else { throw CheckpointError.invalid("tensor '\(name)' has shape \(t.shape), expected \(shape)") }
            return try device.upload(t)
        }
        let rope = try RoPEParameters(rope_type: "default", rope_theta: Double(c.ropeTheta)).table(dim: c.headDim, maxPositionEmbeddings: c.contextLength)
        let (qWidth, kvWidth) = (c.heads * c.headDim, c.kvHeads * c.headDim)
        let layers = try (0..<c.layers).map { i -> DecoderLayer in
            let p = "blk.\(i)."
            // GGUF stores Q/K rows permuted so that RoPE rotates adjacent pairs (llama.cpp's layout).
            let attention = GQAAttention(
                device: device, wq: try load(p + "attn_q.weight", [qWidth, c.hiddenSize]), wk: try load(p + "attn_k.weight", [kvWidth, c.hiddenSize]),
                wv: try load(p + "attn_v.weight", [kvWidth, c.hiddenSize]), wo: try load(p + "attn_output.weight", [c.hiddenSize, qWidth]),
                qBias: nil, kBias: nil, vBias: nil, qkNorm: .none,
                shape: AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot()),
                rope: rope, ropeStyle: .interleaved, eps: c.rmsNormEps)
            let mlp = DenseMLP(device: device, gate: try load(p + "ffn_gate.weight", [c.intermediateSize, c.hiddenSize]),
                               up: try load(p + "ffn_up.weight", [c.intermediateSize, c.hiddenSize]),
                               down: try load(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize]))
            return DecoderLayer(inputNorm: try load(p + "attn_norm.weight", [c.hiddenSize]), attention: attention,
                                postAttentionNorm: try load(p + "ffn_norm.weight", [c.hiddenSize]), mlp: mlp)
        }
        let embedding = try load("token_embd.weight", [c.vocabularySize, c.hiddenSize])
        self.init(architecture: .llama, device: device, vocabularySize: c.vocabularySize, contextLength: c.contextLength,
                  cacheLayout: KVCacheLayout(layers: c.layers, width: 2 * c.kvHeads * c.headDim, fieldWidth: c.headDim),   // K then V, per head
                  embedding: embedding, layers: layers, norm: try load("output_norm.weight", [c.hiddenSize]),
                  lmHead: gguf.info("output.weight") != nil ? try load("output.weight", [c.vocabularySize, c.hiddenSize]) : embedding,
                  rmsNormEps: c.rmsNormEps)
    }
}
