/// Vector, cache and attention ops of the simulated NPU: fp32 numerics on the vector unit, KV entries
/// rounded to the activation type, attention queries (and explicit K/V) rounded before the cube; each op
/// charged to the clock with the cost of the kernel that runs it.
extension AscendSimDevice {
    /// y = x · rsqrt(mean(x²) + ε) · w — 5 fp32 ops per element.
    public func rmsNorm(_ x: Matrix, weight: DeviceWeight, eps: Float) -> Matrix {
        chargeVector("rms_norm", elementsIn: x.data.count + weight.values.count, elementsOut: x.data.count, opsPerElement: 5)
        return vectorUnit.rmsNorm(x, weight: weight, eps: eps)
    }

    /// Rotation of the first `heads·headDim` columns — 6 ops per element (angle tables are precomputed).
    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], theta: Float, style: RoPEStyle) {
        chargeVector("rope", elementsIn: x.rows * heads * headDim, elementsOut: x.rows * heads * headDim, opsPerElement: 6)
        vectorUnit.rope(&x, heads: heads, headDim: headDim, positions: positions, theta: theta, style: style)
    }

    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle) {
        chargeVector("rope", elementsIn: x.rows * heads * headDim, elementsOut: x.rows * heads * headDim, opsPerElement: 6)
        vectorUnit.rope(&x, heads: heads, headDim: headDim, positions: positions, table: table, style: style)
    }

    /// silu(gate) ⊙ up — 8 ops per element (exp, add, divide, multiplies).
    public func siluMul(gate: Matrix, up: Matrix) -> Matrix {
        chargeVector("swiglu", elementsIn: 2 * gate.data.count, elementsOut: gate.data.count, opsPerElement: 8)
        return vectorUnit.siluMul(gate: gate, up: up)
    }

    public func add(_ a: inout Matrix, _ b: Matrix) {
        chargeVector("add", elementsIn: 2 * a.data.count, elementsOut: a.data.count, opsPerElement: 1)
        vectorUnit.add(&a, b)
    }

    public func addBias(_ x: inout Matrix, _ bias: DeviceWeight) {
        chargeVector("add_bias", elementsIn: x.data.count + x.cols, elementsOut: x.data.count, opsPerElement: 1)
        vectorUnit.addBias(&x, bias)
    }

    public func softmax(_ x: Matrix) -> Matrix {
        chargeVector("softmax", elementsIn: x.data.count, elementsOut: x.data.count, opsPerElement: 5)
        return vectorUnit.softmax(x)
    }

    public func sigmoid(_ x: Matrix) -> Matrix {
        chargeVector("sigmoid", elementsIn: x.data.count, elementsOut: x.data.count, opsPerElement: 4)
        return vectorUnit.sigmoid(x)
    }

    public func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float]) {
        chargeVector("scatter_add", elementsIn: rows.data.count + y.data.count, elementsOut: y.data.count, opsPerElement: 2)
        vectorUnit.scatterAdd(&y, rows: rows, tokens: tokens, weights: weights)
    }

    /// Gathers rows of the (NZ-stored) table — a pure data move.
    public func embedding(_ ids: [Int], table: DeviceWeight) -> Matrix {
        chargeVector("embedding", elementsIn: ids.count * table.cols, elementsOut: ids.count * table.cols, opsPerElement: 0)
        return vectorUnit.embedding(ids, table: table)
    }

    // MARK: KV cache and attention

    /// Stores the rows rounded to the activation type (the cache's element type on the chip).
    public func writeCache(_ cache: KVBlockStorage, layer: Int, slots: [Int], values: Matrix, offset: Int) {
        chargeVector("write_cache", elementsIn: values.data.count, elementsOut: values.data.count, opsPerElement: 0)
        vectorUnit.writeCache(cache, layer: layer, slots: slots, values: rounded(values), offset: offset)
    }

    public func readCache(_ cache: KVBlockStorage, layer: Int, slots: [Int]) -> Matrix {
        chargeVector("read_cache", elementsIn: slots.count * cache.width, elementsOut: slots.count * cache.width, opsPerElement: 0)
        return vectorUnit.readCache(cache, layer: layer, slots: slots)
    }

    /// Paged GQA attention (FusedInferAttentionScore): q rounded to the activation type, K/V as cached.
    public func pagedAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: AttentionShape
    ) -> Matrix {
        charge("paged_attention", .gqaAttention(seqs: 1, queries: q.rows, heads: shape.heads, kvHeads: shape.kvHeads,
                                                context: (positions.max() ?? 0) + 1, headDim: shape.headDim, kv: act))
        return vectorUnit.pagedAttention(q: rounded(q), cache: cache, layer: layer, blockTable: blockTable, positions: positions, shape: shape)
    }

    /// MLA as MQA over the latent cache (the fused MLA decode kernel): q rounded, latents as cached.
    public func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix {
        charge("mla_attention", .mlaDecode(seqs: 1, queries: q.rows, heads: shape.heads, context: (positions.max() ?? 0) + 1,
                                           latent: shape.valueDim, rope: shape.keyDim - shape.valueDim, block: cache.blockSize, kv: act))
        return vectorUnit.pagedLatentAttention(q: rounded(q), cache: cache, layer: layer, blockTable: blockTable,
                                               positions: positions, shape: shape)
    }

    /// Flash-style causal attention over explicit K/V (MLA prefill): q, k, v rounded before the cube.
    public func causalAttention(q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape: LatentAttentionShape) -> Matrix {
        charge("prefill_attention", .attentionPrefill(seqs: 1, length: q.rows, cached: max(0, k.rows - q.rows), heads: shape.heads,
                                                      qkDim: shape.keyDim, vDim: shape.valueDim, type: act))
        return vectorUnit.causalAttention(q: rounded(q), k: rounded(k), v: rounded(v), positions: positions, shape: shape)
    }
}
