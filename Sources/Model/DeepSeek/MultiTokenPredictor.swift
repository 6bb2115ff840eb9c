import Device
import Foundation

// T tokens, E hidden, V vocabulary

/// DeepSeek-V3's multi-token-prediction (MTP) layer, `model.layers.{N}` with N = `num_hidden_layers` (V3, R1, V3.1,
/// V3.2 and Moonlight ship one), run as the draft model of speculative decoding the way vLLM's `deepseek_mtp` runs
/// it. At position p it joins the main model's final hidden state h_p (after its last norm) with the embedding of
/// the next token t_{p+1}, and guesses t_{p+2}:
///
///     x_p = eh_proj([enorm(embed(t_{p+1})) ; hnorm(h_p)])      (the embedding is zeroed at position 0)
///     y   = the layer's decoder block over x (attention over positions 0…p, in cache layer `cacheLayer`)
///     logits_p = shared_head.head(shared_head.norm(y_p))
///
/// A checkpoint with several MTP layers (none released) has the first one run. The layer's `embed_tokens` and
/// `shared_head.head` are the main model's when they hold the same values (DeepSeek's release repeats them:
/// 1.85 GB each for V3), else its own.
public final class MultiTokenPredictor: @unchecked Sendable {
    let device: any Device
    /// The storage layer of the model's cache the block writes (one past the main model's layers).
    public let cacheLayer: Int
    let embedding: DeviceWeight         // [V, E]
    let enorm, hnorm: DeviceWeight      // [E]
    let projection: DeviceWeight        // [E, 2E] eh_proj, over [embedding ; hidden]
    let block: DecoderLayer
    let headNorm: DeviceWeight          // [E]
    let head: DeviceWeight              // [V, E]
    let eps: Float
    /// Whether the embedding and head are the main model's own (the checkpoint's copies held the same values).
    public let sharesEmbeddingAndHead: Bool

    /// nil when the checkpoint has no MTP layer (`num_nextn_predict_layers` 0, or its tensors left out, as
    /// quantised community releases often do).
    init?(_ w: WeightLoader, config c: DeepSeekConfig, build: DeepSeekModel.LayerBuilder, embedding mainEmbedding: DeviceWeight,
          lmHead: DeviceWeight) throws {
        let n = c.num_hidden_layers, e = c.hidden_size, v = c.vocab_size
        let p = "model.layers.\(n)"
        guard (c.num_nextn_predict_layers ?? 0) > 0, w.contains("\(p).eh_proj.weight") else { return nil }
        device = w.device
        cacheLayer = n
        eps = Float(c.rms_norm_eps ?? 1e-6)
        enorm = try w.load("\(p).enorm.weight", [e])
        hnorm = try w.load("\(p).hnorm.weight", [e])
        projection = try w.load("\(p).eh_proj.weight", [e, 2 * e])
        block = try build.layer(w, index: n)
        headNorm = try w.load("\(p).shared_head.norm.weight", [e])
        let sameEmbedding = try !w.contains("\(p).embed_tokens.weight") || Self.sameValues(w, "\(p).embed_tokens.weight", "model.embed_tokens.weight")
        let headName = c.tie_word_embeddings == true ? "model.embed_tokens.weight" : "lm_head.weight"
        let sameHead = try !w.contains("\(p).shared_head.head.weight") || Self.sameValues(w, "\(p).shared_head.head.weight", headName)
        embedding = sameEmbedding ? mainEmbedding : try w.load("\(p).embed_tokens.weight", [v, e])
        head = sameHead ? lmHead : try w.load("\(p).shared_head.head.weight", [v, e])
        sharesEmbeddingAndHead = sameEmbedding && sameHead
    }

    /// Whether two stored tensors hold the same bytes (same type, shape and values).
    private static func sameValues(_ w: WeightLoader, _ a: String, _ b: String) throws -> Bool {
        let (x, y) = (try w.checkpoint.tensor(w.stored(a)), try w.checkpoint.tensor(w.stored(b)))
        guard x.dtype == y.dtype, x.shape == y.shape, x.blockScale == nil, y.blockScale == nil, x.bytes.count == y.bytes.count else { return false }
        return x.bytes.count == 0 || memcmp(x.bytes.baseAddress!, y.bytes.baseAddress!, x.bytes.count) == 0
    }

    /// Runs the layer over `batch`, whose chunks hold for each position p the next token t_{p+1} (and the block tables
    /// of the main model's cache, whose layer `cacheLayer` this writes), from `hidden`: the main model's final hidden
    /// states of the same rows `[T, E]`. Returns the logits of the rows the chunks ask for, chunk by chunk.
    public func forward(_ batch: ForwardBatch, hidden: Matrix, cache: KVBlockStorage) -> Matrix {
        forwardKeepingHidden(batch, hidden: hidden, cache: cache).logits
    }

    /// `forward`, also giving the picked rows' output of the layer (after `shared_head.norm`, what the head reads): what
    /// a further guess takes as its hidden state in place of the main model's, which the position does not have yet
    /// (as SGLang's nextn model passes it on; the vLLM `deepseek_mtp` read for this passes the output before that norm).
    public func forwardKeepingHidden(_ batch: ForwardBatch, hidden: Matrix, cache: KVBlockStorage) -> (logits: Matrix, hidden: Matrix) {
        let step = StepContext(batch: batch, cache: cache)
        precondition(hidden.rows == step.tokens.count && hidden.cols * 2 == projection.shape[1], "MTP: hidden states do not match the batch")
        precondition(cache.layers > cacheLayer, "MTP: the cache has no layer \(cacheLayer) (make it with the MTP layer's)")
        var embedded = device.embedding(step.tokens, table: embedding)       // [T, E]
        for (row, position) in step.positions.enumerated() where position == 0 {
            for c in 0..<embedded.cols { embedded.data[row * embedded.cols + c] = 0 }
        }
        let (a, b) = (device.rmsNorm(embedded, weight: enorm, eps: eps), device.rmsNorm(hidden, weight: hnorm, eps: eps))
        let e = a.cols
        let joined = Matrix(rows: a.rows, cols: 2 * e) { out in                // [T, 2E] = [enorm(embedding) ; hnorm(hidden)]
            a.data.withUnsafeBufferPointer { pa in
                b.data.withUnsafeBufferPointer { pb in
                    for r in 0..<a.rows {
                        (out + r * 2 * e).update(from: pa.baseAddress! + r * e, count: e)
                        (out + r * 2 * e + e).update(from: pb.baseAddress! + r * e, count: e)
                    }
                }
            }
        }
        var x = device.matmul(joined, projection)                              // [T, E]
        block(&x, layer: cacheLayer, step: step, device: device, eps: eps)
        let normed = device.rmsNorm(step.logitRows(x), weight: headNorm, eps: eps)    // [rows, E]
        return (device.matmul(normed, head), normed)                                   // [rows, V], [rows, E]
    }
}
