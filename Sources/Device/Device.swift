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

    /// Paged KV memory on this device.
    func makeKVStorage(layers: Int, blockCount: Int, blockSize: Int, width: Int) -> KVBlockStorage

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
}

extension Device {
    public func makeKVStorage(layers: Int, blockCount: Int, blockSize: Int, width: Int) -> KVBlockStorage {
        KVBlockStorage(layers: layers, blockCount: blockCount, blockSize: blockSize, width: width)
    }
}
