import Device

/// The MoE block of Mixtral, Qwen-MoE and OLMoE: softmax top-k routing over the experts, and for
/// Qwen2-MoE a shared expert whose output is scaled per token by sigmoid(x · w_gate):
/// y = routed(x) + σ(x · w_g) · shared(x).
struct SparseMoE: FeedForwardBlock, @unchecked Sendable {
    let device: any Device
    let gate: MoEGate
    let experts: RoutedExperts
    let shared: DenseMLP?
    let sharedGate: DeviceWeight?           // [1, E]

    func callAsFunction(_ x: Matrix) -> Matrix {
        var y = experts(x, routing: gate.route(x))                                   // [T, E]
        guard let shared else { return y }
        let s = shared(x)                                                            // [T, E]
        guard let sharedGate else { device.add(&y, s); return y }
        let g = device.sigmoid(device.matmul(x, sharedGate))                         // [T, 1]
        device.scatterAdd(&y, rows: s, tokens: Array(0..<x.rows), weights: g.data)
        return y
    }
}
