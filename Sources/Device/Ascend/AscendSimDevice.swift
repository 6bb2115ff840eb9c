import Foundation

/// What an `AscendSimDevice` simulates: one chip of `profile`, its number formats, launch mode, and the
/// HBM it keeps for the runtime.
public struct AscendSimConfiguration: Sendable {
    public var profile: AscendProfile
    public var precision: AscendPrecision
    /// Graph mode (ACL graph capture/replay) removes the per-kernel launch cost.
    public var graphMode: Bool
    /// HBM the runtime keeps for itself and for activations, collective buffers and scratch
    /// [assumption: 2 GB, as the timing-only simulator's `Simulator.memoryBudget`].
    public var workspaceBytes: Double

    public init(profile: AscendProfile, precision: AscendPrecision = .bf16, graphMode: Bool = false, workspaceBytes: Double = 2e9) {
        self.profile = profile
        self.precision = precision
        self.graphMode = graphMode
        self.workspaceBytes = workspaceBytes
    }
}

/// The simulated Ascend NPU executor: the same numbers as the chip would produce, and the time it would take.
///
/// Numerics: `upload` converts every 2-D weight to the fractal NZ layout in the precision's weight format
/// (`FractalWeight`); 1-D weights (norms, biases) are rounded to the activation type; matmuls read the NZ
/// fractals with activations rounded to bf16/fp16 (or int8 per token) and accumulate in fp32; the KV cache
/// holds values rounded to the activation type; attention queries enter the cube rounded; element-wise ops
/// run in fp32 as on the AIV (the CPU executor's kernels compute them). Activations between ops stay fp32
/// (FixPipe writes fp32), so results differ from the CPU only by the rounding above.
///
/// Time: every op is costed by `CostModel` from its shapes as it runs and advances `clock`.
/// Memory: weights + KV cache + workspace are checked against the profile's HBM; exceeding it throws
/// `SimulationError.outOfMemory` from `upload` or `reserveKVCache`, as allocation on the chip would fail.
public final class AscendSimDevice: Device, @unchecked Sendable {
    public let name: String
    public let configuration: AscendSimConfiguration
    public let costModel: CostModel
    public let clock = SimulatedClock()
    /// fp32 element-wise and attention kernels (the AIV computes in fp32).
    let vectorUnit = CPUDevice(keepsQuantisedWeights: false)
    private let memoryLock = NSLock()
    private var weightBytes = 0.0
    private var kvBytes = 0.0

    public init(_ configuration: AscendSimConfiguration) {
        self.configuration = configuration
        name = "ascend-sim:\(configuration.profile.name):\(configuration.precision.rawValue)"
        costModel = CostModel(profile: configuration.profile, graphMode: configuration.graphMode)
    }

    public var precision: AscendPrecision { configuration.precision }
    /// The KV cache holds the activation type, as on the chip: its values are rounded to it before they are
    /// stored (`writeCache`), so bf16/fp16 storage keeps them exactly in half the host memory of fp32.
    public var kvElement: KVElement { act == .fp16 ? .f16 : .bf16 }
    public var simulatedClock: SimulatedClock? { clock }
    /// Activation / KV element type.
    var act: ElementType { precision.activationType }

    /// HBM in use: uploaded weights (device format), reserved KV cache, workspace.
    public var memory: MemoryBudget {
        memoryLock.withLock { MemoryBudget(weights: weightBytes, kvCache: kvBytes, workspace: configuration.workspaceBytes) }
    }

    // MARK: Upload and memory

    public func upload(_ tensor: HostTensor) throws -> DeviceWeight {
        let values = tensor.toFloat32()
        let weight: DeviceWeight
        if tensor.shape.count >= 2 {
            let format = precision == .w8a8 && Self.keepsActivationType(tensor.name) ? .bf16 : precision
            let fractal = FractalWeight(rows: tensor.rows, cols: tensor.cols, values: values, precision: format)
            weight = DeviceWeight(shape: tensor.shape, sourceType: tensor.dtype, fractal: fractal)
        } else {
            weight = DeviceWeight(shape: tensor.shape, sourceType: tensor.dtype, values: values.map(precision.round))
        }
        let bytes = Double(weight.fractal?.deviceBytes ?? Int(Double(tensor.elementCount) * act.bytes))
        try allocate(weights: bytes, kv: 0)
        return weight
    }

    /// NOTE: W8A8 deployments (vllm-ascend / msModelSlim) leave the embedding, the LM head, the MoE router
    /// and MLA's up-projection (absorbed per head at load) in bf16; names are the GGUF and Hugging Face ones.
    static func keepsActivationType(_ name: String) -> Bool {
        ["embed", "token_embd", "lm_head", "output.weight", ".gate.weight", "ffn_gate_inp", "kv_b_proj", "absorbed"]
            .contains { name.contains($0) }
    }

    public func reserveKVCache(layers: Int, blockCount: Int, blockSize: Int, width: Int) throws {
        try allocate(weights: 0, kv: Double(layers * blockCount * blockSize * width) * act.bytes)
    }

    private func allocate(weights: Double, kv: Double) throws {
        try memoryLock.withLock {
            let next = MemoryBudget(weights: weightBytes + weights, kvCache: kvBytes + kv, workspace: configuration.workspaceBytes)
            try next.check(against: configuration.profile)
            weightBytes = next.weights
            kvBytes = next.kvCache
        }
    }

    /// Costs `kind` and advances the clock.
    func charge(_ name: String, _ kind: CostOp.Kind) {
        clock.advance(by: costModel.cost(CostOp(name, kind)))
    }

    /// Element-wise kernel through UB: `elementsIn` read and `elementsOut` written at the activation type.
    func chargeVector(_ name: String, elementsIn: Int, elementsOut: Int, opsPerElement: Double) {
        charge(name, .vector(bytesIn: Double(elementsIn) * act.bytes, bytesOut: Double(elementsOut) * act.bytes,
                             ops: Double(elementsOut) * opsPerElement, type: .fp32))
    }

    func rounded(_ x: Matrix) -> Matrix {
        Matrix(rows: x.rows, cols: x.cols, data: x.data.map(precision.round))
    }

    // MARK: Matmul

    /// y = x · Wᵀ on the cube from W's NZ fractals — x: [T, K], W: [N, K], y: [T, N] (fp32 accumulation).
    public func matmul(_ x: Matrix, _ w: DeviceWeight) -> Matrix {
        let f = fractal(w)
        chargeMatmul([x.rows], f)
        return f.matmul(x)
    }

    /// y[r] = x[r] · W_gᵀ per group, one grouped kernel (GroupedMatmul) — x: [R, K], y: [R, N].
    public func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        precondition(weights.count == groupSizes.count && groupSizes.reduce(0, +) == x.rows, "groupedMatmul: groups do not cover the rows")
        let fractals = weights.map(fractal)
        let n = fractals.first?.layout.rows ?? 0
        var y = [Float](repeating: 0, count: x.rows * n)
        var start = 0
        for (g, size) in groupSizes.enumerated() where size > 0 {
            let part = fractals[g].matmul(x.rows(start..<(start + size)))   // [size, N]
            y.replaceSubrange((start * n)..<((start + size) * n), with: part.data)
            start += size
        }
        if let f = fractals.first { chargeMatmul(groupSizes, f) }
        return Matrix(rows: x.rows, cols: n, data: y)
    }

    private func fractal(_ w: DeviceWeight) -> FractalWeight {
        guard let f = w.fractal else {
            preconditionFailure("\(name): weight of shape \(w.shape) was not uploaded to this device (no NZ layout)")
        }
        return f
    }

    /// One (grouped) matmul kernel; W8A8 adds the per-token dynamic quantisation of x on the vector unit.
    private func chargeMatmul(_ tokens: [Int], _ f: FractalWeight) {
        let (n, k) = (f.layout.rows, f.layout.cols)
        let int8 = f.precision == .w8a8
        if int8 {
            let elements = tokens.reduce(0, +) * k
            charge("quant_per_token", .vector(bytesIn: Double(elements) * act.bytes, bytesOut: Double(elements),
                                              ops: 3 * Double(elements), type: .fp32))
        }
        let a: ElementType = int8 ? .int8 : act
        let kind: CostOp.Kind = tokens.count == 1
            ? .matmul(m: tokens[0], n: n, k: k, a: a, b: f.precision.weightType, out: .fp32)
            : .groupedMatmul(tokens: tokens, n: n, k: k, a: a, b: f.precision.weightType, out: .fp32)
        charge(tokens.count == 1 ? "matmul" : "grouped_matmul", kind)
    }
}
