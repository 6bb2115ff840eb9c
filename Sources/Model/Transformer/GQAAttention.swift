import Device

// T tokens, E hidden, H query heads, G kv heads, D head dim

/// Grouped-query attention with RoPE, as in Llama, Qwen2/3, Mixtral, Qwen-MoE and OLMoE: optional
/// q/k/v biases (Qwen2), optional q/k RMSNorm per head (Qwen3) or over the whole projection (OLMoE).
/// The cache stores K then V per token (`2·G·D` floats).
struct GQAAttention: AttentionBlock, @unchecked Sendable {
    /// Where the q/k norms apply.
    enum QKNorm {
        case none
        /// Over each head's D values (Qwen3).
        case perHead(q: DeviceWeight, k: DeviceWeight)
        /// Over the whole `H·D` / `G·D` projection (OLMoE).
        case whole(q: DeviceWeight, k: DeviceWeight)
    }

    let device: any Device
    let wq, wk, wv, wo: DeviceWeight        // [H·D, E], [G·D, E], [G·D, E], [E, H·D]
    /// [wq, wk, wv], built once for the fused projection (an array literal per call allocated per layer and step).
    let qkv: [DeviceWeight]
    let qBias, kBias, vBias: DeviceWeight?
    let qkNorm: QKNorm
    let shape: AttentionShape
    let rope: RoPETable
    let ropeStyle: RoPEStyle
    let eps: Float

    init(device: any Device, wq: DeviceWeight, wk: DeviceWeight, wv: DeviceWeight, wo: DeviceWeight, qBias: DeviceWeight?,
         kBias: DeviceWeight?, vBias: DeviceWeight?, qkNorm: QKNorm, shape: AttentionShape, rope: RoPETable, ropeStyle: RoPEStyle,
         eps: Float) {
        (self.device, self.wq, self.wk, self.wv, self.wo) = (device, wq, wk, wv, wo)
        (self.qBias, self.kBias, self.vBias, self.qkNorm) = (qBias, kBias, vBias, qkNorm)
        (self.shape, self.rope, self.ropeStyle, self.eps) = (shape, rope, ropeStyle, eps)
        qkv = [wq, wk, wv]
    }

    func callAsFunction(_ x: Matrix, layer: Int, step: StepContext) -> Matrix {
        let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
        // One job for the three projections: a decode step's K/V matrices are too small to keep both
        // cores busy on their own, and each separate matmul is a fork/join.
        let p = device.matmuls(x, qkv)
        var q = withBias(p[0], qBias)                                    // [T, H·D]
        var k = withBias(p[1], kBias)                                    // [T, G·D]
        let v = withBias(p[2], vBias)                                    // [T, G·D]
        normalise(&q, &k)
        device.rope(&q, heads: h, headDim: d, positions: step.positions, table: rope, style: ropeStyle)
        device.rope(&k, heads: g, headDim: d, positions: step.positions, table: rope, style: ropeStyle)
        device.writeCache(step.cache, layer: layer, slots: step.slots, values: k, offset: 0)
        device.writeCache(step.cache, layer: layer, slots: step.slots, values: v, offset: g * d)
        let attn = device.pagedAttention(q: q, cache: step.cache, layer: layer, sequences: step.pagedSequences, shape: shape)  // [T, H·D]
        return device.matmul(attn, wo)                                   // [T, E]
    }

    private func withBias(_ y: Matrix, _ bias: DeviceWeight?) -> Matrix {
        guard let bias else { return y }
        var y = y
        device.addBias(&y, bias)
        return y
    }

    private func normalise(_ q: inout Matrix, _ k: inout Matrix) {
        switch qkNorm {
        case .none: return
        case let .whole(qn, kn):
            q = device.rmsNorm(q, weight: qn, eps: eps)
            k = device.rmsNorm(k, weight: kn, eps: eps)
        case let .perHead(qn, kn):
            let d = shape.headDim
            q = device.rmsNorm(q.reshaped(cols: d), weight: qn, eps: eps).reshaped(cols: q.cols)   // [T·H, D] → [T, H·D]
            k = device.rmsNorm(k.reshaped(cols: d), weight: kn, eps: eps).reshaped(cols: k.cols)
        }
    }
}

extension GQAAttention {
    /// Loads `prefix.{q,k,v,o}_proj` (+ biases and q/k norms when present).
    init(_ w: WeightLoader, prefix: String, hidden: Int, heads: Int, kvHeads: Int, headDim: Int,
         rope: RoPETable, qkNormPerHead: Bool, eps: Float) throws {
        let (qw, kw) = (heads * headDim, kvHeads * headDim)
        self.device = w.device
        wq = try w.load("\(prefix).q_proj.weight", [qw, hidden])
        wk = try w.load("\(prefix).k_proj.weight", [kw, hidden])
        wv = try w.load("\(prefix).v_proj.weight", [kw, hidden])
        wo = try w.load("\(prefix).o_proj.weight", [hidden, qw])
        qBias = try w.optional("\(prefix).q_proj.bias", [qw])
        kBias = try w.optional("\(prefix).k_proj.bias", [kw])
        vBias = try w.optional("\(prefix).v_proj.bias", [kw])
        guard !w.contains("\(prefix).o_proj.bias") else { throw CheckpointError.unsupported("o_proj bias ('\(prefix).o_proj.bias')") }
        if w.contains("\(prefix).q_norm.weight") {
            let (qs, ks) = qkNormPerHead ? ([headDim], [headDim]) : ([qw], [kw])
            let (q, k) = (try w.load("\(prefix).q_norm.weight", qs), try w.load("\(prefix).k_norm.weight", ks))
            qkNorm = qkNormPerHead ? .perHead(q: q, k: k) : .whole(q: q, k: k)
        } else {
            qkNorm = .none
        }
        shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim, scale: 1 / Float(headDim).squareRoot())
        self.rope = rope
        ropeStyle = .halves
        self.eps = eps
        qkv = [wq, wk, wv]
    }
}
