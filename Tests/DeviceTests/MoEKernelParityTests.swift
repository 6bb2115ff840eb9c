import Foundation
import Testing
@testable import Device

/// The MoE and latent-attention ops on the CPU equal their reference loops.
@Suite struct MoEKernelParityTests {
    let device = CPUDevice()

    func random(_ n: Int, _ seed: inout UInt64) -> [Float] { CPUKernelParityTests.random(n, seed: &seed) }

    func maxError(_ a: Matrix, _ b: Matrix) -> Float {
        precondition(a.rows == b.rows && a.cols == b.cols)
        return zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func groupedMatmulMatchesReferenceAndSkipsEmptyGroups() {
        var seed: UInt64 = 3
        let (k, n) = (72, 40)
        let sizes = [3, 0, 1, 0, 5, 2]
        let x = Matrix(rows: 11, cols: k, data: random(11 * k, &seed))
        let weights = sizes.map { _ in DeviceWeight(shape: [n, k], sourceType: .f32, values: random(n * k, &seed)) }
        let fast = device.groupedMatmul(x, weights, groupSizes: sizes)
        let ref = ReferenceKernels.groupedMatmul(x, weights, groupSizes: sizes)
        #expect(maxError(fast, ref) <= 1e-4)
        // Each group equals a plain matmul of its rows, bit for bit (batch invariance).
        var start = 0
        for (g, size) in sizes.enumerated() where size > 0 {
            let alone = device.matmul(x.rows(start..<(start + size)), weights[g])
            #expect(fast.rows(start..<(start + size)) == alone)
            start += size
        }
    }

    @Test func scatterAddBiasSoftmaxSigmoidMatchReference() {
        var seed: UInt64 = 5
        let rows = Matrix(rows: 5, cols: 6, data: random(30, &seed))
        let tokens = [2, 0, 2, 1, 0], weights: [Float] = [0.5, 1, -2, 0.25, 3]
        var a = Matrix(rows: 3, cols: 6, data: random(18, &seed)), b = a
        device.scatterAdd(&a, rows: rows, tokens: tokens, weights: weights)
        ReferenceKernels.scatterAdd(&b, rows: rows, tokens: tokens, weights: weights)
        #expect(a == b)
        let bias = DeviceWeight(shape: [6], sourceType: .f32, values: random(6, &seed))
        device.addBias(&a, bias)
        ReferenceKernels.addBias(&b, bias)
        #expect(a == b)
        let s = device.softmax(a)
        #expect(maxError(s, ReferenceKernels.softmax(a)) <= 1e-6)
        for t in 0..<3 { #expect(abs(s.row(t).reduce(0, +) - 1) < 1e-5) }
        #expect(device.sigmoid(Matrix(rows: 1, cols: 3, data: [0, 2, -2])).data.map { ($0 * 1e5).rounded() } == [50000, 88080, 11920])
    }

    @Test func ropeWithTableMatchesReferenceAndThetaForm() {
        var seed: UInt64 = 11
        let (h, d) = (3, 16)
        let x = Matrix(rows: 4, cols: h * d, data: random(4 * h * d, &seed))
        let positions = [0, 3, 17, 4000]
        let plain = RoPETable(inverseFrequencies: (0..<(d / 2)).map { 1 / Float(Foundation.pow(10000, Double(2 * $0) / Double(d))) })
        for style in [RoPEStyle.interleaved, .halves] {
            for table in [plain, RoPETable(inverseFrequencies: plain.inverseFrequencies.map { $0 / 4 }, attentionFactor: 1.2)] {
                var a = x, b = x
                device.rope(&a, heads: h, headDim: d, positions: positions, table: table, style: style)
                ReferenceKernels.rope(&b, heads: h, headDim: d, positions: positions, table: table, style: style)
                #expect(a == b)
            }
            var a = x, b = x
            device.rope(&a, heads: h, headDim: d, positions: positions, table: plain, style: style)
            device.rope(&b, heads: h, headDim: d, positions: positions, theta: 10000, style: style)
            #expect(maxError(a, b) <= 2e-3, "fp32 angles vs fp64 angles at position 4000")
        }
    }

    @Test func latentAndExplicitAttentionMatchReference() {
        var seed: UInt64 = 13
        let (h, r, p, dv) = (4, 12, 4, 6)
        let cache = KVBlockStorage(layers: 2, blockCount: 5, blockSize: 4, width: r + p)
        let table = [3, 0, 4]
        let entries = Matrix(rows: 11, cols: r + p, data: random(11 * (r + p), &seed))
        let slots = (0..<11).map { cache.slot(position: $0, blockTable: table) }
        device.writeCache(cache, layer: 1, slots: slots, values: entries, offset: 0)
        #expect(device.readCache(cache, layer: 1, slots: slots) == entries)
        let q = Matrix(rows: 3, cols: h * (r + p), data: random(3 * h * (r + p), &seed))
        let positions = [8, 9, 10]
        let latent = LatentAttentionShape(heads: h, keyDim: r + p, valueDim: r, scale: 0.3)
        let fast = device.pagedLatentAttention(q: q, cache: cache, layer: 1, blockTable: table, positions: positions, shape: latent)
        let ref = ReferenceKernels.pagedLatentAttention(q: q, cache: cache, layer: 1, blockTable: table, positions: positions, shape: latent)
        #expect(fast.cols == h * r && maxError(fast, ref) <= 1e-5)

        // The same attention with the latent expanded to per-head K/V gives the same result.
        let k = Matrix(rows: 11, cols: h * (r + p), data: (0..<11).flatMap { s in (0..<h).flatMap { _ in entries.row(s) } })
        let v = Matrix(rows: 11, cols: h * r, data: (0..<11).flatMap { s in (0..<h).flatMap { _ in Array(entries.row(s)[0..<r]) } })
        let explicit = device.causalAttention(q: q, k: k, v: v, positions: positions, shape: latent)
        #expect(maxError(explicit, fast) <= 1e-5)
        let shape = LatentAttentionShape(heads: h, keyDim: r + p, valueDim: dv, scale: 0.3)
        let v2 = Matrix(rows: 11, cols: h * dv, data: random(11 * h * dv, &seed))
        let a = device.causalAttention(q: q, k: k, v: v2, positions: [0, 5, 10], shape: shape)
        let b = ReferenceKernels.causalAttention(q: q, k: k, v: v2, positions: [0, 5, 10], shape: shape)
        #expect(maxError(a, b) <= 1e-5)
        #expect(Array(a.row(0)) == Array(v2.row(0)), "position 0 sees only key 0")
    }

    @Test func latentAttentionOfSeveralSequencesEqualsEachAlone() {
        var seed: UInt64 = 17
        let (h, r, p) = (3, 16, 8)
        let cache = KVBlockStorage(layers: 1, blockCount: 9, blockSize: 4, width: r + p)
        // Three sequences with their own blocks and lengths: decode rows (one token) and a 2-token chunk.
        let tables = [[4, 1], [0, 7, 2], [5]]
        let positions = [[6], [9, 10], [0]]
        for (table, pos) in zip(tables, positions) {
            let slots = (0...pos.last!).map { cache.slot(position: $0, blockTable: table) }
            device.writeCache(cache, layer: 0, slots: slots, values: Matrix(rows: slots.count, cols: r + p, data: random(slots.count * (r + p), &seed)), offset: 0)
        }
        let q = Matrix(rows: 4, cols: h * (r + p), data: random(4 * h * (r + p), &seed))
        let shape = LatentAttentionShape(heads: h, keyDim: r + p, valueDim: r, scale: 0.25)
        let rows = [0..<1, 1..<3, 3..<4]
        let sequences = (0..<3).map { PagedSequence(rows: rows[$0], blockTable: tables[$0], positions: positions[$0]) }
        let together = device.pagedLatentAttention(q: q, cache: cache, layer: 0, sequences: sequences, shape: shape)
        let alone = (0..<3).map {
            device.pagedLatentAttention(q: q.rows(rows[$0]), cache: cache, layer: 0, blockTable: tables[$0], positions: positions[$0], shape: shape)
        }
        #expect(together == Matrix(stacking: alone, cols: h * r))
        let reference = ReferenceKernels.pagedLatentAttention(q: q.rows(1..<3), cache: cache, layer: 0, blockTable: tables[1], positions: positions[1], shape: shape)
        #expect(maxError(together.rows(1..<3), reference) <= 1e-5)
    }
}
