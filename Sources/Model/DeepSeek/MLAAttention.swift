import Device

// T tokens, S cached positions, E hidden, H heads, R kv_lora_rank (latent), P qk_rope_head_dim,
// N qk_nope_head_dim, V v_head_dim, Q q_lora_rank

/// How MLA attends: over keys/values decompressed from the latent (`naive`), or with W_UK folded into
/// the query and W_UV applied after attention, straight over the latent cache (`absorbed`). The two
/// are the same function of the weights; `automatic` takes the absorbed form for decode (one-token
/// chunks), where it reads R + P floats per cached token instead of H·(N + P + V).
public enum MLAForm: Sendable {
    case automatic, absorbed, naive
}

/// Multi-head Latent Attention (DeepSeek-V2 §2.1): queries through an optional low-rank bottleneck,
/// keys and values from one latent c = RMSNorm(x · W_DKV) of R floats per token plus one shared
/// rotary key of P floats. The cache stores [c, k_rope] — R + P floats per token per layer.
final class MLAAttention: AttentionBlock, @unchecked Sendable {
    struct Dims {
        let heads, latent, rope, nope, value: Int
    }

    let device: any Device
    let dims: Dims
    let qDown: DeviceWeight?, qDownNorm: DeviceWeight?    // [Q, E], [Q]
    let qUp: DeviceWeight                                 // [H·(N+P), Q or E]
    let kvDown: DeviceWeight                              // [R+P, E]
    let kvNorm: DeviceWeight                              // [R]
    let kvUp: DeviceWeight                                // [H·(N+V), R]
    let absorbedK: [DeviceWeight]                         // H × [R, N] = W_UK,hᵀ
    let absorbedV: [DeviceWeight]                         // H × [V, R] = W_UV,h
    let output: DeviceWeight                              // [E, H·V]
    let rope: RoPETable
    let ropeStyle: RoPEStyle
    let scale: Float
    let eps: Float
    /// The projections of x that run as one job ([q_a, kv_a], or [q, kv_a] without q_lora), built once.
    private let downProjections: [DeviceWeight]
    var form: MLAForm = .automatic
    /// DeepSeek-V3.2's DSA: each query attends only to the tokens this indexer picks.
    /// NOTE: the sparse path always runs the absorbed form (it reads only the chosen latents), whatever
    /// `form` says; `form` chooses between the dense forms of V2/V3.
    var indexer: TokenIndexer?

    init(_ w: WeightLoader, prefix: String, config c: DeepSeekConfig, rope: RoPETable, ropeStyle: RoPEStyle) throws {
        let d = Dims(heads: c.num_attention_heads, latent: c.kv_lora_rank, rope: c.qk_rope_head_dim, nope: c.qk_nope_head_dim, value: c.v_head_dim)
        let (e, qWidth) = (c.hidden_size, d.heads * (d.nope + d.rope))
        dims = d
        device = w.device
        guard c.attention_bias != true else { throw CheckpointError.unsupported("DeepSeek attention_bias") }
        if let q = c.q_lora_rank {
            qDown = try w.load("\(prefix).q_a_proj.weight", [q, e])
            qDownNorm = try w.load("\(prefix).q_a_layernorm.weight", [q])
            qUp = try w.load("\(prefix).q_b_proj.weight", [qWidth, q])
        } else {
            (qDown, qDownNorm) = (nil, nil)
            qUp = try w.load("\(prefix).q_proj.weight", [qWidth, e])
        }
        kvDown = try w.load("\(prefix).kv_a_proj_with_mqa.weight", [d.latent + d.rope, e])
        kvNorm = try w.load("\(prefix).kv_a_layernorm.weight", [d.latent])
        let upShape = [d.heads * (d.nope + d.value), d.latent]
        kvUp = try w.load("\(prefix).kv_b_proj.weight", upShape)
        (absorbedK, absorbedV) = try Self.absorb(try w.values("\(prefix).kv_b_proj.weight", upShape), dims: d, loader: w, prefix: prefix)
        output = try w.load("\(prefix).o_proj.weight", [e, d.heads * d.value])
        self.rope = rope
        self.ropeStyle = ropeStyle
        scale = 1 / Float(d.nope + d.rope).squareRoot() * c.rope.softmaxScaleFactor
        eps = Float(c.rms_norm_eps ?? 1e-6)
        downProjections = [qDown ?? qUp, kvDown]
    }

    /// Splits W_UKV ([H·(N+V), R], head h's N key rows then V value rows) into per-head W_UK,hᵀ and W_UV,h.
    private static func absorb(_ up: [Float], dims d: Dims, loader: WeightLoader, prefix: String) throws -> ([DeviceWeight], [DeviceWeight]) {
        let r = d.latent
        var keys: [DeviceWeight] = [], values: [DeviceWeight] = []
        for h in 0..<d.heads {
            let base = h * (d.nope + d.value)
            var kT = [Float](repeating: 0, count: r * d.nope)                                       // [R, N]
            for n in 0..<d.nope { for j in 0..<r { kT[j * d.nope + n] = up[(base + n) * r + j] } }
            let v = Array(up[((base + d.nope) * r)..<((base + d.nope + d.value) * r)])              // [V, R]
            keys.append(try loader.upload(derived: "\(prefix).absorbed_k.\(h)", values: kT, shape: [r, d.nope]))
            values.append(try loader.upload(derived: "\(prefix).absorbed_v.\(h)", values: v, shape: [d.value, r]))
        }
        return (keys, values)
    }

    func callAsFunction(_ x: Matrix, layer: Int, step: StepContext) -> Matrix {
        let d = dims
        let (qr, q, kv) = projections(x)                                                   // [T, Q], [T, H·(N+P)], [T, R+P]
        let qNope = q.headColumns(heads: d.heads, range: 0..<d.nope)                       // [T, H·N]
        var qRope = q.headColumns(heads: d.heads, range: d.nope..<(d.nope + d.rope))       // [T, H·P]
        device.rope(&qRope, heads: d.heads, headDim: d.rope, positions: step.positions, table: rope, style: ropeStyle)
        let latent = device.rmsNorm(kv.columns(0..<d.latent), weight: kvNorm, eps: eps)    // [T, R]
        var kRope = kv.columns(d.latent..<(d.latent + d.rope))                             // [T, P]
        device.rope(&kRope, heads: 1, headDim: d.rope, positions: step.positions, table: rope, style: ropeStyle)
        device.writeCache(step.cache, layer: layer, slots: step.slots, values: Matrix(joiningHeads: .shared(latent), .shared(kRope), heads: 1), offset: 0)
        if let indexer {
            indexer.update(x, layer: layer, step: step)
            let joined = Matrix(joiningHeads: .perHead(qNope), .perHead(qRope), heads: d.heads)
            let parts = zip(step.rowRanges, step.batch.chunks).map { range, chunk in
                let chosen = indexer.select(x: x.rows(range), qr: qr.rows(range), positions: Array(chunk.positions), layer: layer,
                                            cache: step.cache, blockTable: chunk.blockTable)
                return sparseAttention(joined.rows(range), keys: chosen, chunk: chunk, layer: layer, step: step)
            }
            return device.matmul(Matrix(concatenating: parts, cols: d.heads * d.value), output)   // [T, E]
        }
        if step.batch.chunks.allSatisfy(absorbs) {
            // A decode step: W_UK and W_UV each as one grouped job over every sequence's tokens (the step's
            // sequence list: the device's memo of visible slots knows it from the layers before).
            let attn = absorbedAttention(qNope: qNope, qRope: qRope, sequences: step.pagedSequences, layer: layer, cache: step.cache)
            return device.matmul(attn, output)                                             // [T, E]
        }
        let attn = step.perSequence(Matrix(joiningHeads: .perHead(qNope), .perHead(qRope), heads: d.heads)) { rows, chunk in
            return self.absorbs(chunk) ? self.absorbedAttention(qNope: rows.headColumns(heads: d.heads, range: 0..<d.nope),
                                                     qRope: rows.headColumns(heads: d.heads, range: d.nope..<(d.nope + d.rope)),
                                                     sequences: [PagedSequence(rows: 0..<rows.rows, blockTable: chunk.blockTable,
                                                                               firstPosition: chunk.startPosition)],
                                                     layer: layer, cache: step.cache)
                            : self.naiveAttention(rows, chunk: chunk, layer: layer, step: step)
        }                                                                                  // [T, H·V]
        return device.matmul(attn, output)                                                 // [T, E]
    }

    /// Whether a chunk runs the absorbed form: tokens after the prompt (a decode step verifying drafts runs as its
    /// tokens would one at a time), or a single token that is not known to be a prompt's, unless a form is forced.
    /// A prompt's tokens run the naive form however the steps split it: the two forms agree only to the last bits,
    /// and through a narrow cache (f16) a last-bit difference can round to a visible one.
    private func absorbs(_ chunk: SequenceChunk) -> Bool {
        form == .absorbed || (form == .automatic && (chunk.generated || (chunk.tokens.count == 1 && !chunk.prompt)))
    }

    /// The low-rank query residual (x itself without q_lora), the queries and [c, k_rope] before the norm;
    /// the projections of x itself run as one job.
    private func projections(_ x: Matrix) -> (Matrix, Matrix, Matrix) {
        let p = device.matmuls(x, downProjections)                                         // [T, Q or H·(N+P)], [T, R+P]
        guard let qDownNorm else { return (x, p[0], p[1]) }
        let residual = device.rmsNorm(p[0], weight: qDownNorm, eps: eps)
        return (residual, device.matmul(residual, qUp), p[1])
    }

    /// The absorbed form over just the positions in `keys[t]` of each query.
    private func sparseAttention(_ q: Matrix, keys: [[Int]], chunk: SequenceChunk, layer: Int, step: StepContext) -> Matrix {
        let d = dims
        let t = q.rows
        let qLatent = perHead(q.headColumns(heads: d.heads, range: 0..<d.nope), absorbedK, tokens: t)   // [t, H·R]
        let qRope = q.headColumns(heads: d.heads, range: d.nope..<(d.nope + d.rope))                    // [t, H·P]
        let slots = (0..<chunk.positions.upperBound).map { step.cache.slot(position: $0, blockTable: chunk.blockTable) }
        let entries = device.readCache(step.cache, layer: layer, slots: slots)                         // [S, W]
        let shape = LatentAttentionShape(heads: d.heads, keyDim: d.latent + d.rope, valueDim: d.latent, scale: scale)
        let o = device.selectedAttention(q: Matrix(joiningHeads: .perHead(qLatent), .perHead(qRope), heads: d.heads),
                                         entries: entries, keys: keys, sinks: nil, shape: shape)       // [t, H·R]
        return perHead(o, absorbedV, tokens: t)                                                        // [t, H·V]
    }

    /// q_h · k_s = (q_nope,h · W_UK,h) · c_s + q_rope,h · k_rope,s, and o_h = W_UV,h · Σ_s p_s c_s, for the
    /// rows of `chunks` in order (their tokens share the W_UK and W_UV jobs; each attends over its own cache).
    private func absorbedAttention(qNope: Matrix, qRope: Matrix, sequences: [PagedSequence], layer: Int, cache: KVBlockStorage) -> Matrix {
        let d = dims
        let t = qNope.rows
        let shape = LatentAttentionShape(heads: d.heads, keyDim: d.latent + d.rope, valueDim: d.latent, scale: scale)
        // One fused job where the device has it; the composition below computes the same.
        if let fused = device.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: absorbedK, absorbedV: absorbedV,
                                                      cache: cache, layer: layer, sequences: sequences, shape: shape) { return fused }
        let qLatent = perHead(qNope, absorbedK, tokens: t)                                 // [t, H·R]
        let q = Matrix(joiningHeads: .perHead(qLatent), .perHead(qRope), heads: d.heads) // [t, H·(R+P)]
        // Every sequence's rows in one parallel pass.
        let o = device.pagedLatentAttention(q: q, cache: cache, layer: layer, sequences: sequences, shape: shape)   // [t, H·R]
        return perHead(o, absorbedV, tokens: t)                                            // [t, H·V]
    }

    /// Decompresses every visible position's latent into per-head keys and values, then attends.
    private func naiveAttention(_ q: Matrix, chunk: SequenceChunk, layer: Int, step: StepContext) -> Matrix {
        let d = dims
        let visible = (0..<chunk.positions.upperBound).map { step.cache.slot(position: $0, blockTable: chunk.blockTable) }
        let cached = device.readCache(step.cache, layer: layer, slots: visible)             // [S, R+P]
        let kv = device.matmul(cached.columns(0..<d.latent), kvUp)                         // [S, H·(N+V)]
        let k = Matrix(joiningHeads: .perHead(kv.headColumns(heads: d.heads, range: 0..<d.nope)),
                       .shared(cached.columns(d.latent..<(d.latent + d.rope))), heads: d.heads)   // [S, H·(N+P)]
        let v = kv.headColumns(heads: d.heads, range: d.nope..<(d.nope + d.value))         // [S, H·V]
        let shape = LatentAttentionShape(heads: d.heads, keyDim: d.nope + d.rope, valueDim: d.value, scale: scale)
        return device.causalAttention(q: q, k: k, v: v, positions: Array(chunk.positions), shape: shape)   // [t, H·V]
    }

    /// y_h = x_h · W_hᵀ for every head h, as one grouped matmul over head-major rows.
    private func perHead(_ x: Matrix, _ weights: [DeviceWeight], tokens: Int) -> Matrix {
        let sizes = ArrayPools.current.takeInts(count: dims.heads) { $0.update(repeating: tokens, count: dims.heads) }
        return device.groupedMatmul(x.headMajor(heads: dims.heads), weights, groupSizes: sizes).tokenMajor(heads: dims.heads)
    }
}
