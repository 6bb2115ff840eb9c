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

    /// Causal scaled-dot-product attention of T new queries over S cached keys/values.
    /// Query t sits at absolute position `positions[t]` and sees keys 0...positions[t].
    /// q: [T, H·D]; keys, values: [S, G·D] (row-major, S ≥ max position + 1); result: [T, H·D]
    func attention(
        q: Matrix, keys: UnsafeBufferPointer<Float>, values: UnsafeBufferPointer<Float>,
        positions: [Int], shape: AttentionShape
    ) -> Matrix
}
