import Device

// T tokens, E hidden, F expert width, R routed rows (T·K)

/// The routed experts of one MoE layer. Tokens are grouped by expert and each expert runs once as a
/// grouped matmul over the tokens it received; experts no token chose cost nothing.
struct RoutedExperts: @unchecked Sendable {
    let device: any Device
    let gate, up, down: [DeviceWeight]      // X × [F, E], X × [F, E], X × [E, F]
    /// [gate, up], for their one grouped job (built once: a list per call was an allocation).
    let gateAndUp: [[DeviceWeight]]
    /// `down` + a shared expert's down, for the down job with the shared expert as one more group
    /// (`sharingDown(_:)`; nil: built per call).
    private(set) var downAndShared: [DeviceWeight]?
    /// DeepSeek-V4's `swiglu_limit`: gate clamped to ≤ limit and up to ±limit before silu(gate) · up.
    var swigluLimit: Float?

    /// Loads `prefix.{i}.{gate,up,down}` for `count` experts (`names` for Mixtral's w1/w3/w2).
    init(_ w: WeightLoader, prefix: String, count: Int, hidden: Int, width: Int,
         names: (String, String, String) = ("gate_proj", "up_proj", "down_proj")) throws {
        device = w.device
        let mlps = try (0..<count).map { try w.mlp("\(prefix).\($0)", hidden: hidden, width: width, names: names) }
        gate = mlps.map(\.gate)
        up = mlps.map(\.up)
        down = mlps.map(\.down)
        gateAndUp = [gate, up]
    }

    /// These experts with `shared`'s down matrix appended to the down job's list once, at load.
    func sharingDown(_ shared: DeviceWeight) -> RoutedExperts {
        var copy = self
        copy.downAndShared = down + [shared]
        return copy
    }

    /// Σ over each token's choices of weight · expert(x), summed in the order of `routing`.
    func callAsFunction(_ x: Matrix, routing: ExpertRouting) -> Matrix {
        run(x, routing: routing, shared: nil).routed
    }

    /// The same, plus a shared expert's `down` applied to its SwiGLU hidden `sharedHidden` ([T, F']); when
    /// F' is the routed width F it rides in the routed experts' down job as one more group (one fork/join
    /// fewer per layer). Each result equals the separate matmul bit for bit.
    func callAsFunction(_ x: Matrix, routing: ExpertRouting, sharedHidden: Matrix, sharedDown: DeviceWeight) -> (routed: Matrix, shared: Matrix) {
        let r = run(x, routing: routing, shared: (sharedHidden, sharedDown))
        return (r.routed, r.shared!)
    }

    private func run(_ x: Matrix, routing: ExpertRouting, shared: (hidden: Matrix, down: DeviceWeight)?) -> (routed: Matrix, shared: Matrix?) {
        let (sizes, tokens, weights) = Self.rowsByExpert(routing, experts: gate.count)
        let xs = x.gatherRows(tokens)                                                           // [R, E]
        let gateUp = device.groupedMatmuls(xs, gateAndUp, groupSizes: sizes)                    // 2 × [R, F], one job
        var (g, u) = (gateUp[0], gateUp[1])
        if let swigluLimit { clampSwiGLU(gate: &g, up: &u, limit: swigluLimit) }
        let hidden = device.siluMul(gate: g, up: u)                                             // [R, F]
        let ys: Matrix, sharedOut: Matrix?                                                      // [R, E], [T, E]
        if let shared, shared.hidden.cols == hidden.cols, shared.down.shape == down.first?.shape {
            let weights = downAndShared.flatMap { $0.last === shared.down ? $0 : nil } ?? down + [shared.down]
            let groups = ArrayPools.current.takeInts(count: sizes.count + 1) { g in
                sizes.withUnsafeBufferPointer { g.update(from: $0.baseAddress!, count: sizes.count) }
                g[sizes.count] = shared.hidden.rows
            }
            let all = device.groupedMatmul(Matrix(stacking: hidden, shared.hidden), weights, groupSizes: groups)   // [R + T, E]
            (ys, sharedOut) = (all.rows(0..<hidden.rows), all.rows(hidden.rows..<all.rows))
        } else {
            ys = device.groupedMatmul(hidden, down, groupSizes: sizes)
            sharedOut = shared.map { device.matmul($0.hidden, $0.down) }
        }
        var out = Matrix(pooledZeros: x.rows, x.cols)                                           // [T, E]
        device.scatterAdd(&out, rows: ys, tokens: tokens, weights: weights)
        return (out, sharedOut)
    }

    /// The routed rows sorted by (expert, token), by a counting sort into arrays of the thread's pools: rows
    /// per expert, and each row's token and routing weight. A decode step calls this per MoE layer, with
    /// 64–256 experts.
    static func rowsByExpert(_ routing: ExpertRouting, experts: Int) -> (sizes: [Int], tokens: [Int], weights: [Float]) {
        let pools = ArrayPools.current
        let (k, total) = (routing.perToken, routing.experts.count)
        let sizes = pools.takeInts(count: experts) { sizes in
            sizes.update(repeating: 0, count: experts)
            for e in routing.experts { sizes[e] += 1 }
        }
        var weights: [Float] = []
        let tokens = pools.takeInts(count: total) { tokens in
            weights = pools.takeFloats(count: total) { w in
                pools.withIntScratch(count: experts) { next in
                    var start = 0
                    for e in 0..<experts { (next[e], start) = (start, start + sizes[e]) }
                    for (i, e) in routing.experts.enumerated() {
                        (tokens[next[e]], w[next[e]]) = (i / k, routing.weights[i])
                        next[e] += 1
                    }
                }
            }
        }
        return (sizes, tokens, weights)
    }
}

/// gate = min(gate, limit), up = clamp(up, −limit, limit) (DeepSeek-V4's `swiglu_limit`).
func clampSwiGLU(gate: inout Matrix, up: inout Matrix, limit: Float) {
    for i in gate.data.indices { gate.data[i] = min(gate.data[i], limit) }
    for i in up.data.indices { up.data[i] = min(max(up.data[i], -limit), limit) }
}
