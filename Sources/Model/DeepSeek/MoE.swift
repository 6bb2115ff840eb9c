import Device

/// DeepSeekMoE: fine-grained routed experts chosen by `MoEGate`, plus shared experts every token
/// passes through (one MLP of width `n_shared_experts · moe_intermediate_size`): y = routed(x) + shared(x).
struct DeepSeekMoE: FeedForwardBlock, @unchecked Sendable {
    let device: any Device
    let gate: MoEGate
    let experts: RoutedExperts
    let shared: DenseMLP?
    /// [router, shared gate, shared up], built once for their one job (with shared experts).
    private let routerAndShared: [DeviceWeight]

    init(device: any Device, gate: MoEGate, experts: RoutedExperts, shared: DenseMLP?) {
        (self.device, self.gate, self.shared) = (device, gate, shared)
        self.experts = shared.map { experts.sharingDown($0.down) } ?? experts
        routerAndShared = shared.map { [gate.weight, $0.gate, $0.up] } ?? []
    }

    func callAsFunction(_ x: Matrix) -> Matrix {
        guard let shared else { return experts(x, routing: gate.route(x)) }
        // The router and the shared expert's gate and up read the same x: one job; the shared expert's
        // down runs in the routed experts' down job.
        let p = device.matmuls(x, routerAndShared)                                        // [T, X], [T, F'], [T, F']
        let routing = gate.route(logits: p[0])
        var (g, u) = (p[1], p[2])
        if let limit = shared.swigluLimit { clampSwiGLU(gate: &g, up: &u, limit: limit) }
        let (routed, sharedOut) = experts(x, routing: routing, sharedHidden: device.siluMul(gate: g, up: u), sharedDown: shared.down)
        var y = routed                                                                    // [T, E]
        device.add(&y, sharedOut)                                                         // + shared(x), as DenseMLP computes it
        return y
    }
}
