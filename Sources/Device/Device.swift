/// A compute device that runs the ops the models need. Models call only these; they never ask which
/// device they run on (no `if device is …` outside `Sources/Device`).
///
/// NOTE: every op takes and returns plain values (`Matrix`) so that a second executor
/// (the simulated Ascend NPU) can compute the same numbers while accounting time its own way.
public protocol Device: AnyObject, Sendable {
    /// Human-readable name, e.g. `cpu`.
    var name: String { get }

    /// Converts a checkpoint tensor into this device's layout.
    func upload(_ tensor: HostTensor) throws -> DeviceWeight

    /// y = x · Wᵀ  — x: [T, K], W: [N, K], y: [T, N]
    func matmul(_ x: Matrix, _ w: DeviceWeight) -> Matrix

    /// y = x · rsqrt(mean(x²) + ε) · w, per row — x: [T, K], w: [K]
    func rmsNorm(_ x: Matrix, weight: DeviceWeight, eps: Float) -> Matrix

    /// Rotates each head of x in place by its token's position — x: [T, heads·D], positions: [T]
    func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], theta: Float, style: RoPEStyle)

    /// y = silu(gate) ⊙ up — all [T, F]
    func siluMul(gate: Matrix, up: Matrix) -> Matrix

    /// a += b — both [T, K]
    func add(_ a: inout Matrix, _ b: Matrix)

    /// y[t] = table[ids[t]] — table: [V, K], y: [T, K]
    func embedding(_ ids: [Int], table: DeviceWeight) -> Matrix

    /// The clock of a simulated device, advanced by every op it runs (nil on real hardware; default nil).
    var simulatedClock: SimulatedClock? { get }

    /// Whether generated tokens take other numerics than prompt tokens (CPUDevice with int8 activations for
    /// generated tokens only): the engine then runs the rows of generated tokens in a pass of their own,
    /// inside `runningGeneratedTokens`, so that a token's numerics depend only on whether it belongs to its
    /// request's prompt, never on the batch. Default false.
    var separatesGeneratedTokens: Bool { get }

    /// Runs `body` (a model pass over generated tokens only) with the numerics of generated tokens.
    /// Default: `body` as is.
    func runningGeneratedTokens<T>(_ body: () -> T) -> T

    /// Reserves device memory for a KV cache of `layers × blockCount × blockSize × width` values next to
    /// the uploaded weights; throws when it does not fit (default: host memory, no check).
    func reserveKVCache(layers: Int, blockCount: Int, blockSize: Int, width: Int) throws

    /// Paged KV memory on this device, in `kvElement` (default), its entries in fields of `fieldWidth`
    /// columns (nil: one field; see KVBlockStorage).
    func makeKVStorage(layers: Int, blockCount: Int, blockSize: Int, width: Int, fieldWidth: Int?) -> KVBlockStorage

    /// What this device's KV caches store (default: f32, every written value exact).
    var kvElement: KVElement { get }

    /// Stores rows of `values` ([T, W]) into `slots` of one layer of the cache, at column `offset`
    /// (W + offset ≤ cache.width). GQA models write K at offset 0 and V at offset G·D.
    func writeCache(_ cache: KVBlockStorage, layer: Int, slots: [Int], values: Matrix, offset: Int)

    /// Causal scaled-dot-product attention of one sequence's T new queries over its paged cache.
    /// Query t sits at absolute position `positions[t]` and sees positions 0...positions[t], whose
    /// keys are at column 0 and values at column G·D of their slots (GQA layout).
    /// q: [T, H·D]; result: [T, H·D]
    func pagedAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: AttentionShape
    ) -> Matrix

    /// `pagedAttention` for several sequences in one call: `q` stacks the sequences' rows (sequence i owns
    /// rows `sequences[i].rows`, in order) and the result stacks theirs. Each row's result equals what the
    /// one-sequence op gives it. Default: one call per sequence; executors override it to run every
    /// sequence's rows in one parallel pass.
    func pagedAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: AttentionShape) -> Matrix

    // MARK: Ops for Hugging Face families and MoE (defaults: the reference kernels, in Device+Defaults.swift)

    /// Rotates each head of x in place with explicit inverse frequencies (YaRN, Llama 3 scaling):
    /// angle = position · invFreq[i] (fp32), and cos/sin are multiplied by `table.attentionFactor`.
    func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], table: RoPETable, style: RoPEStyle)

    /// y[r] = x[r] · W_gᵀ for the rows of group g — x: [R, K] sorted by group, `groupSizes[g]` rows each
    /// (Σ = R), W_g: [N, K], y: [R, N]. Groups of size 0 cost nothing (MoE experts absent from the step).
    func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix

    /// [groupedMatmul(x, sets[i], groupSizes)] for every weight set — the same rows through several grouped
    /// weights (an expert's gate and up projections), which a device may run as one job.
    func groupedMatmuls(_ x: Matrix, _ sets: [[DeviceWeight]], groupSizes: [Int]) -> [Matrix]

    /// [matmul(x, weights[i])] — the same rows through several weights (MLA's q and kv down-projections,
    /// the router next to the shared expert's gate and up), which a device may run as one job.
    func matmuls(_ x: Matrix, _ weights: [DeviceWeight]) -> [Matrix]

    /// y[tokens[i]] += weights[i] · rows[i], for i in order — rows: [R, K], y: [T, K]. Callers give each
    /// token's rows in a fixed order (MoE: ascending expert id), so a row's sum never depends on the batch.
    func scatterAdd(_ y: inout Matrix, rows: Matrix, tokens: [Int], weights: [Float])

    /// x[t] += b — x: [T, N], b: [N]
    func addBias(_ x: inout Matrix, _ bias: DeviceWeight)

    /// y[t, i] = exp(x[t, i] − max_t) / Σ_j exp(x[t, j] − max_t), per row — x: [T, N]
    func softmax(_ x: Matrix) -> Matrix

    /// y = 1 / (1 + exp(−x)), element-wise
    func sigmoid(_ x: Matrix) -> Matrix

    /// y[t] = entry(slots[t]) — the cached rows of one layer: [T, cache.width]
    func readCache(_ cache: KVBlockStorage, layer: Int, slots: [Int]) -> Matrix

    /// Causal attention over explicit keys/values, key row s at position s (each head its own K/V).
    /// q: [T, H·Dk], k: [S, H·Dk], v: [S, H·Dv], query t sees keys 0...positions[t]; result: [T, H·Dv]
    func causalAttention(q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape: LatentAttentionShape) -> Matrix

    /// Multi-head latent attention over a paged latent cache, as multi-query attention with one shared
    /// KV head: every query head h scores p_s = softmax_s(scale · q_h · entry_s[0..<R+P]) and returns
    /// Σ_s p_s · entry_s[0..<R] (the latent doubles as the value).
    /// q: [T, H·(R+P)] (absorbed nope part, then rope part, per head); result: [T, H·R];
    /// `shape.keyDim` = R + P, `shape.valueDim` = R.
    func pagedLatentAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: LatentAttentionShape
    ) -> Matrix

    /// `pagedLatentAttention` of several sequences' query rows at once (each sequence its own block table
    /// and positions; `sequences` cover q's rows): a decode step of S sequences is one parallel pass per layer.
    /// Each row's result equals the single-sequence call's.
    func pagedLatentAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix

    /// MLA's absorbed attention whole, where the device has it as one fused op (nil: the caller composes it):
    /// per head h, q_h = [q_nope,h · W_UK,h, q_rope,h] attends over the latent cache as `pagedLatentAttention`
    /// does, and the head's output is W_UV,h times the result. qNope: [T, H·N], qRope: [T, H·P], absorbedK:
    /// H × [R, N] (W_UK,hᵀ), absorbedV: H × [V, R]; `shape` as for `pagedLatentAttention`; result [T, H·V].
    func absorbedLatentAttention(qNope: Matrix, qRope: Matrix, absorbedK: [DeviceWeight], absorbedV: [DeviceWeight],
                                 cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: LatentAttentionShape) -> Matrix?

    // MARK: Sparse attention (DeepSeek-V3.2 DSA, DeepSeek-V4 CSA/HCA)

    /// Multi-query attention where each query sees an explicit list of entries (one shared KV head), with
    /// optional per-head sink logits that join the softmax but carry no value:
    /// p = softmax({scale · q_h · e_s[0..<Dk] : s ∈ keys[t]} ∪ {sinks[h]}), o_h = Σ_s p_s · e_s[0..<Dv].
    /// q: [T, H·Dk], entries: [S, W ≥ Dk, Dv], keys[t] ⊂ 0..<S; result: [T, H·Dv].
    func selectedAttention(q: Matrix, entries: Matrix, keys: [[Int]], sinks: [Float]?, shape: LatentAttentionShape) -> Matrix

    /// Lightning-indexer scores: score[t][s] = Σ_h w[t, h] · scale · ReLU(q[t, h] · k[s]) for s < visible[t].
    /// q: [T, H·D], headWeights: [T, H], keys: [S, D]; result: T rows of visible[t] scores.
    func indexScores(q: Matrix, headWeights: Matrix, keys: Matrix, visible: [Int], scale: Float) -> [[Float]]
}

/// Optional capabilities of devices that are simulated or have their own memory (defaults: the host).
extension Device {
    public var simulatedClock: SimulatedClock? { nil }

    public func reserveKVCache(layers: Int, blockCount: Int, blockSize: Int, width: Int) throws {}

    public func makeKVStorage(layers: Int, blockCount: Int, blockSize: Int, width: Int, fieldWidth: Int?) -> KVBlockStorage {
        KVBlockStorage(layers: layers, blockCount: blockCount, blockSize: blockSize, width: width, fieldWidth: fieldWidth, element: kvElement)
    }

    /// makeKVStorage with one field per entry (through the requirement, so a device's own version runs).
    public func makeKVStorage(layers: Int, blockCount: Int, blockSize: Int, width: Int) -> KVBlockStorage {
        makeKVStorage(layers: layers, blockCount: blockCount, blockSize: blockSize, width: width, fieldWidth: nil)
    }

    public var kvElement: KVElement { .f32 }
}
