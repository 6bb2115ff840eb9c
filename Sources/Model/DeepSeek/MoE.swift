import Device

/// DeepSeekMoE: fine-grained routed experts chosen by `MoEGate`, plus shared experts every token
/// passes through (one MLP of width `n_shared_experts · moe_intermediate_size`): y = routed(x) + shared(x).
struct DeepSeekMoE: FeedForwardBlock, @unchecked Sendable {
    let device: any Device
    let gate: MoEGate
    let experts: RoutedExperts
    let shared: DenseMLP?

    func callAsFunction(_ x: Matrix) -> Matrix {
        var y = experts(x, routing: gate.route(x))       // [T, E]
        if let shared { device.add(&y, shared(x)) }
        return y
    }
}
