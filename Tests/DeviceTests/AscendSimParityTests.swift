import Foundation
import Testing
@testable import Device

/// Every `Device` op on `AscendSimDevice` against the CPU reference, each with an error bound derived from
/// the rounding the simulated chip applies (u = unit roundoff: 2⁻⁸ for bf16 (8 significant bits), 2⁻¹¹ for fp16):
///
/// | op | bound per output element |
/// |---|---|
/// | matmul, groupedMatmul (bf16/fp16) | (2u + K·2⁻²³)·Σ_k |x_k·w_k| (x and w each rounded once; fp32 sums) |
/// | matmul (W8A8) | Σ_k (|x_k|·s_w/2 + |w_k|·s_x/2 + s_x·s_w/4) + K·2⁻²³·Σ_k |x_k·w_k| (half a step per operand) |
/// | rmsNorm, addBias, embedding | u·|y| (the 1-D weight or table entry is rounded once) |
/// | rope, siluMul, add, softmax, sigmoid, scatterAdd | exact: fp32 on the vector unit, bit-identical to the CPU executor |
/// | writeCache → readCache | exact round(x) to the activation type |
/// | attention (GQA, MLA, explicit K/V) | max|v|·(u + e^{2Δ} − 1), Δ = scale·2u·max_s Σ|q·k_s| (score error moves softmax weights by ≤ e^{2Δ}−1) |
@Suite struct AscendSimParityTests {
    let cpu = CPUDevice()

    static func device(_ precision: AscendPrecision = .bf16) -> AscendSimDevice {
        AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: precision))
    }

    static func unitRoundoff(_ p: AscendPrecision) -> Float { p == .fp16 ? 0x1p-11 : 0x1p-8 }

    func random(_ n: Int, _ seed: inout UInt64) -> [Float] { CPUKernelParityTests.random(n, seed: &seed) }

    func weight(_ shape: [Int], _ values: [Float], on device: any Device, name: String = "blk.0.w") throws -> DeviceWeight {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, values.count * 4), alignment: 16)
        defer { bytes.deallocate() }
        values.withUnsafeBytes { bytes.copyMemory(from: $0) }
        return try device.upload(HostTensor(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawBufferPointer(bytes), owner: nil))
    }

    /// Σ_k |x[t,k]·w[n,k]| for every output.
    func absDot(_ x: Matrix, _ w: [Float]) -> [Float] {
        let (k, n) = (x.cols, w.count / x.cols)
        return (0..<(x.rows * n)).map { i in (0..<k).reduce(Float(0)) { $0 + abs(x.data[(i / n) * k + $1] * w[(i % n) * k + $1]) } }
    }

    @Test(arguments: [AscendPrecision.bf16, .fp16], [(1, 64, 3), (7, 576, 130), (3, 100, 17), (2, 1, 5)])
    func matmulWithinRoundingBound(precision: AscendPrecision, shape: (Int, Int, Int)) throws {
        let (t, k, n) = shape
        var seed = UInt64(t * 1000 + k + n)
        let x = Matrix(rows: t, cols: k, data: random(t * k, &seed)), wv = random(n * k, &seed)
        let sim = Self.device(precision)
        let y = sim.matmul(x, try weight([n, k], wv, on: sim))
        let ref = ReferenceKernels.matmul(x, DeviceWeight(shape: [n, k], sourceType: .f32, values: wv))
        let u = Self.unitRoundoff(precision), scale = absDot(x, wv)
        for i in y.data.indices {
            #expect(abs(y.data[i] - ref.data[i]) <= (2 * u + Float(k) * 0x1p-23) * scale[i] + 1e-7, "output \(i)")
        }
        // The rounding really happens: bf16/fp16 results are not the fp32 ones.
        if k > 1 { #expect(y.data != ref.data) }
    }

    @Test func w8a8MatmulWithinQuantisationBound() throws {
        var seed: UInt64 = 17
        let (t, k, n) = (4, 300, 37)
        let x = Matrix(rows: t, cols: k, data: random(t * k, &seed)), wv = random(n * k, &seed)
        let sim = Self.device(.w8a8)
        let w = try weight([n, k], wv, on: sim)
        #expect(w.fractal?.precision == .w8a8)
        let y = sim.matmul(x, w)
        let ref = ReferenceKernels.matmul(x, DeviceWeight(shape: [n, k], sourceType: .f32, values: wv))
        let sx = Int8Rows(rows: t, cols: k, x.data).scales, sw = Int8Rows(rows: n, cols: k, wv).scales
        let scale = absDot(x, wv)
        for i in y.data.indices {
            let (r, c) = (i / n, i % n)
            var bound: Float = 0
            for j in 0..<k { bound += abs(x.data[r * k + j]) * sw[c] / 2 + abs(wv[c * k + j]) * sx[r] / 2 + sx[r] * sw[c] / 4 }
            #expect(abs(y.data[i] - ref.data[i]) <= bound + Float(k) * 0x1p-23 * scale[i], "output \(i)")
        }
        // Embedding, head and router stay bf16 in W8A8 deployments.
        #expect(try weight([n, k], wv, on: sim, name: "model.embed_tokens.weight").fractal?.precision == .bf16)
        #expect(try weight([n, k], wv, on: sim, name: "model.layers.3.mlp.gate.weight").fractal?.precision == .bf16)
    }

    @Test func groupedMatmulEqualsPerGroupMatmulsAndBound() throws {
        var seed: UInt64 = 3
        let (k, n) = (72, 40), sizes = [3, 0, 1, 0, 5, 2]
        let x = Matrix(rows: 11, cols: k, data: random(11 * k, &seed))
        let sim = Self.device()
        let values = sizes.map { _ in random(n * k, &seed) }
        let weights = try values.map { try weight([n, k], $0, on: sim) }
        let y = sim.groupedMatmul(x, weights, groupSizes: sizes)
        var start = 0
        for (g, size) in sizes.enumerated() where size > 0 {
            let rows = x.rows(start..<(start + size))
            #expect(y.rows(start..<(start + size)) == sim.matmul(rows, weights[g]), "batch-invariant per group")
            let ref = ReferenceKernels.matmul(rows, DeviceWeight(shape: [n, k], sourceType: .f32, values: values[g]))
            let scale = absDot(rows, values[g]), got = y.rows(start..<(start + size))
            for i in ref.data.indices { #expect(abs(got.data[i] - ref.data[i]) <= (2 * 0x1p-8 + Float(k) * 0x1p-23) * scale[i] + 1e-7) }
            start += size
        }
    }

    @Test func normBiasAndEmbeddingWithinOneRounding() throws {
        var seed: UInt64 = 5
        let sim = Self.device()
        let x = Matrix(rows: 3, cols: 40, data: random(120, &seed)), wv = random(40, &seed)
        let norm = sim.rmsNorm(x, weight: try weight([40], wv, on: sim), eps: 1e-5)
        let ref = ReferenceKernels.rmsNorm(x, weight: wv, eps: 1e-5)
        for i in ref.data.indices { #expect(abs(norm.data[i] - ref.data[i]) <= 0x1p-8 * abs(ref.data[i]) + 1e-6) }
        var a = x, b = x
        sim.addBias(&a, try weight([40], wv, on: sim))
        ReferenceKernels.addBias(&b, DeviceWeight(shape: [40], sourceType: .f32, values: wv))
        for i in b.data.indices { #expect(abs(a.data[i] - b.data[i]) <= 0x1p-8 * abs(wv[i % 40]) + 1e-6) }
        let table = random(50 * 24, &seed)
        let e = sim.embedding([3, 49, 0, 3], table: try weight([50, 24], table, on: sim, name: "token_embd.weight"))
        let ids = [3, 49, 0, 3]
        let expected: [Float] = ids.flatMap { (id: Int) -> [Float] in table[(id * 24)..<((id + 1) * 24)].map(AscendPrecision.roundBF16) }
        #expect(e.data == expected)
    }

    @Test func vectorOpsAreBitIdenticalToTheCPUExecutor() {
        var seed: UInt64 = 7
        let sim = Self.device()
        let x = Matrix(rows: 4, cols: 48, data: random(192, &seed)), y = Matrix(rows: 4, cols: 48, data: random(192, &seed))
        #expect(sim.siluMul(gate: x, up: y) == cpu.siluMul(gate: x, up: y))
        #expect(sim.softmax(x) == cpu.softmax(x))
        #expect(sim.sigmoid(x) == cpu.sigmoid(x))
        var a = x, b = x
        sim.add(&a, y); cpu.add(&b, y)
        #expect(a == b)
        sim.rope(&a, heads: 3, headDim: 16, positions: [0, 5, 9, 300], theta: 10000, style: .interleaved)
        cpu.rope(&b, heads: 3, headDim: 16, positions: [0, 5, 9, 300], theta: 10000, style: .interleaved)
        #expect(a == b)
        let table = RoPETable(inverseFrequencies: (0..<8).map { 1 / Float(1 << $0) }, attentionFactor: 1.1)
        sim.rope(&a, heads: 3, headDim: 16, positions: [1, 2, 3, 4], table: table, style: .halves)
        cpu.rope(&b, heads: 3, headDim: 16, positions: [1, 2, 3, 4], table: table, style: .halves)
        #expect(a == b)
        let rows = Matrix(rows: 5, cols: 48, data: random(240, &seed))
        sim.scatterAdd(&a, rows: rows, tokens: [2, 0, 2, 1, 3], weights: [0.5, 1, -2, 0.25, 3])
        cpu.scatterAdd(&b, rows: rows, tokens: [2, 0, 2, 1, 3], weights: [0.5, 1, -2, 0.25, 3])
        #expect(a == b)
    }

    @Test func cacheHoldsRoundedValues() {
        var seed: UInt64 = 9
        let sim = Self.device()
        let cache = sim.makeKVStorage(layers: 2, blockCount: 3, blockSize: 4, width: 10)
        let values = Matrix(rows: 5, cols: 6, data: random(30, &seed))
        let slots = [0, 1, 7, 8, 11]
        sim.writeCache(cache, layer: 1, slots: slots, values: values, offset: 4)
        let back = sim.readCache(cache, layer: 1, slots: slots)
        for t in 0..<5 {
            #expect(Array(back.row(t)[4..<10]) == values.row(t).map(AscendPrecision.roundBF16))
            #expect(Array(back.row(t)[0..<4]) == [0, 0, 0, 0])
        }
        // Stored in the activation type itself (half of fp32's host memory), which holds the rounded values exactly.
        #expect(cache.element == .bf16)
        let fp16 = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: .fp16))
        let half = fp16.makeKVStorage(layers: 1, blockCount: 3, blockSize: 4, width: 6)
        #expect(half.element == .f16)
        fp16.writeCache(half, layer: 0, slots: slots, values: values, offset: 0)
        let backHalf = fp16.readCache(half, layer: 0, slots: slots)
        for t in 0..<5 { #expect(backHalf.row(t) == values.row(t).map(AscendPrecision.fp16.round)) }
    }

    /// max|v|·(u + e^{2Δ} − 1), Δ = scale·2u·max Σ|q·k|.
    func attentionBound(maxV: Float, maxAbsDot: Float, scale: Float, u: Float = 0x1p-8) -> Float {
        maxV * (u + Foundation.exp(2 * scale * (2 * u + u * u) * maxAbsDot) - 1) + 1e-6
    }

    @Test func gqaAttentionWithinBound() {
        var seed: UInt64 = 11
        let (h, g, d) = (4, 2, 8)
        let shape = AttentionShape(heads: h, kvHeads: g, headDim: d, scale: 0.35)
        let sim = Self.device()
        let table = [2, 0, 1]
        let kv = Matrix(rows: 10, cols: 2 * g * d, data: random(10 * 2 * g * d, &seed))
        let q = Matrix(rows: 3, cols: h * d, data: random(3 * h * d, &seed))
        let simCache = sim.makeKVStorage(layers: 1, blockCount: 3, blockSize: 4, width: 2 * g * d)
        let cpuCache = cpu.makeKVStorage(layers: 1, blockCount: 3, blockSize: 4, width: 2 * g * d)
        let slots = (0..<10).map { simCache.slot(position: $0, blockTable: table) }
        sim.writeCache(simCache, layer: 0, slots: slots, values: kv, offset: 0)
        cpu.writeCache(cpuCache, layer: 0, slots: slots, values: kv, offset: 0)
        let a = sim.pagedAttention(q: q, cache: simCache, layer: 0, blockTable: table, positions: [7, 8, 9], shape: shape)
        let b = ReferenceKernels.pagedAttention(q: q, cache: cpuCache, layer: 0, blockTable: table, positions: [7, 8, 9], shape: shape)
        let maxDot = Float(d) * (q.data.map(abs).max() ?? 0) * (kv.data.map(abs).max() ?? 0)
        let bound = attentionBound(maxV: kv.data.map(abs).max() ?? 0, maxAbsDot: maxDot, scale: shape.scale)
        #expect(zip(a.data, b.data).allSatisfy { abs($0 - $1) <= bound })
        #expect(a.data != b.data, "rounded operands change the result")
    }

    @Test func latentAndExplicitAttentionWithinBound() {
        var seed: UInt64 = 13
        let (h, r, p) = (4, 12, 4)
        let sim = Self.device()
        let table = [3, 0, 4]
        let entries = Matrix(rows: 11, cols: r + p, data: random(11 * (r + p), &seed))
        let simCache = sim.makeKVStorage(layers: 2, blockCount: 5, blockSize: 4, width: r + p)
        let cpuCache = cpu.makeKVStorage(layers: 2, blockCount: 5, blockSize: 4, width: r + p)
        let slots = (0..<11).map { simCache.slot(position: $0, blockTable: table) }
        sim.writeCache(simCache, layer: 1, slots: slots, values: entries, offset: 0)
        cpu.writeCache(cpuCache, layer: 1, slots: slots, values: entries, offset: 0)
        let q = Matrix(rows: 3, cols: h * (r + p), data: random(3 * h * (r + p), &seed))
        let shape = LatentAttentionShape(heads: h, keyDim: r + p, valueDim: r, scale: 0.3)
        let maxQ = q.data.map(abs).max() ?? 0, maxE = entries.data.map(abs).max() ?? 0
        let bound = attentionBound(maxV: maxE, maxAbsDot: Float(r + p) * maxQ * maxE, scale: shape.scale)
        let a = sim.pagedLatentAttention(q: q, cache: simCache, layer: 1, blockTable: table, positions: [8, 9, 10], shape: shape)
        let b = ReferenceKernels.pagedLatentAttention(q: q, cache: cpuCache, layer: 1, blockTable: table, positions: [8, 9, 10], shape: shape)
        #expect(zip(a.data, b.data).allSatisfy { abs($0 - $1) <= bound })
        let k = Matrix(rows: 11, cols: h * (r + p), data: (0..<11).flatMap { s in (0..<h).flatMap { _ in entries.row(s) } })
        let v = Matrix(rows: 11, cols: h * r, data: (0..<11).flatMap { s in (0..<h).flatMap { _ in Array(entries.row(s)[0..<r]) } })
        let c = sim.causalAttention(q: q, k: k, v: v, positions: [8, 9, 10], shape: shape)
        let d = ReferenceKernels.causalAttention(q: q, k: k, v: v, positions: [8, 9, 10], shape: shape)
        #expect(zip(c.data, d.data).allSatisfy { abs($0 - $1) <= bound })
    }
}
