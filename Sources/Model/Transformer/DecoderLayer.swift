import Device

/// Self-attention of one layer: reads the layer's input rows, writes its cache entries, returns
/// `[T, hidden]` to add to the residual stream.
protocol AttentionBlock: Sendable {
    func callAsFunction(_ x: Matrix, layer: Int, step: StepContext) -> Matrix
}

/// The feed-forward half of a layer (dense SwiGLU MLP or a mixture of experts): `[T, hidden]` → `[T, hidden]`.
protocol FeedForwardBlock: Sendable {
    func callAsFunction(_ x: Matrix) -> Matrix
}

/// A pre-norm decoder layer: x += attention(norm(x)); x += mlp(norm(x)).
struct DecoderLayer: Sendable {
    let inputNorm: DeviceWeight             // [E]
    let attention: any AttentionBlock
    let postAttentionNorm: DeviceWeight     // [E]
    let mlp: any FeedForwardBlock

    func callAsFunction(_ x: inout Matrix, layer: Int, step: StepContext, device: any Device, eps: Float) {
        device.add(&x, attention(device.rmsNorm(x, weight: inputNorm, eps: eps), layer: layer, step: step))
        device.add(&x, mlp(device.rmsNorm(x, weight: postAttentionNorm, eps: eps)))
    }
}

/// SwiGLU: down(silu(gate(x)) ⊙ up(x)).
struct DenseMLP: FeedForwardBlock, @unchecked Sendable {
    let device: any Device
    let gate, up, down: DeviceWeight        // [F, E], [F, E], [E, F]
    /// [gate, up], built once: the fused projection takes them as a list (an array literal per call was an
    /// allocation per layer and step).
    private let gateUp: [DeviceWeight]
    /// DeepSeek-V4's `swiglu_limit` (see `clampSwiGLU`); nil for every other family.
    var swigluLimit: Float?

    init(device: any Device, gate: DeviceWeight, up: DeviceWeight, down: DeviceWeight, swigluLimit: Float? = nil) {
        (self.device, self.gate, self.up, self.down, self.swigluLimit) = (device, gate, up, down, swigluLimit)
        gateUp = [gate, up]
    }

    func callAsFunction(_ x: Matrix) -> Matrix {
        let p = device.matmuls(x, gateUp)                                   // [T, F] each, one job
        var (g, u) = (p[0], p[1])
        if let swigluLimit { clampSwiGLU(gate: &g, up: &u, limit: swigluLimit) }
        return device.matmul(device.siluMul(gate: g, up: u), down)          // [T, E]
    }
}
