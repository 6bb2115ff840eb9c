import Foundation
import CKernels
import Testing
@testable import Device

/// Every fast CPU kernel equals the portable reference within a stated tolerance.
@Suite struct CPUKernelParityTests {
    var rng = SystemRandomNumberGenerator()
    let device = CPUDevice()

    static func random(_ n: Int, seed: inout UInt64) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1
        }
    }

    @Test(arguments: [(1, 64, 3), (7, 576, 130), (3, 100, 17), (2, 1, 5)])
    func matmulMatchesReference(t: Int, k: Int, n: Int) {
        var seed: UInt64 = UInt64(t * 1000 + k + n)
        let x = Matrix(rows: t, cols: k, data: Self.random(t * k, seed: &seed))
        let w = DeviceWeight(shape: [n, k], sourceType: .f32, values: Self.random(n * k, seed: &seed))
        let fast = device.matmul(x, w), ref = ReferenceKernels.matmul(x, w)
        #expect(fast.rows == t && fast.cols == n)
        let err = zip(fast.data, ref.data).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= 1e-4 * Float(k).squareRoot(), "max error \(err)")
    }

    @Test func matmulRowsDoNotDependOnBatch() {
        // Batch invariance: a row's result is bit-identical alone or among others.
        var seed: UInt64 = 42
        let x = Matrix(rows: 5, cols: 300, data: Self.random(1500, seed: &seed))
        let w = DeviceWeight(shape: [70, 300], sourceType: .f32, values: Self.random(21000, seed: &seed))
        let all = device.matmul(x, w)
        for r in 0..<5 {
            let one = device.matmul(Matrix(rows: 1, cols: 300, data: x.row(r)), w)
            #expect(one.data == all.row(r))
        }
    }

    @Test func rmsNormRopeAndAttentionMatchReference() {
        var seed: UInt64 = 7
        let (t, h, g, d) = (4, 6, 2, 16)
        let x = Matrix(rows: t, cols: h * d, data: Self.random(t * h * d, seed: &seed))
        let w = DeviceWeight(shape: [h * d], sourceType: .f32, values: Self.random(h * d, seed: &seed))
        let n1 = device.rmsNorm(x, weight: w, eps: 1e-5), n2 = ReferenceKernels.rmsNorm(x, weight: w.values, eps: 1e-5)
        #expect(zip(n1.data, n2.data).allSatisfy { abs($0 - $1) <= 1e-5 })

        for style in [RoPEStyle.interleaved, .halves] {
            var a = x, b = x
            device.rope(&a, heads: h, headDim: d, positions: [0, 5, 9, 100], theta: 10000, style: style)
            ReferenceKernels.rope(&b, heads: h, headDim: d, positions: [0, 5, 9, 100], theta: 10000, style: style)
            #expect(a == b)
            #expect(a.row(0) == x.row(0), "position 0 is not rotated")
        }

        // A paged cache with blocks of 4 and a scrambled block table.
        let cache = KVBlockStorage(layers: 2, blockCount: 6, blockSize: 4, width: 2 * g * d)
        let table = [4, 1, 5]
        let keys = Matrix(rows: 10, cols: g * d, data: Self.random(10 * g * d, seed: &seed))
        let values = Matrix(rows: 10, cols: g * d, data: Self.random(10 * g * d, seed: &seed))
        let slots = (0..<10).map { cache.slot(position: $0, blockTable: table) }
        device.writeCache(cache, layer: 1, slots: slots, values: keys, offset: 0)
        device.writeCache(cache, layer: 1, slots: slots, values: values, offset: g * d)
        #expect(Array(cache.entry(layer: 1, slot: slots[9])) == keys.row(9) + values.row(9))
        let shape = AttentionShape(heads: h, kvHeads: g, headDim: d, scale: 0.25)
        let positions = [6, 7, 8, 9]
        let fast = device.pagedAttention(q: x, cache: cache, layer: 1, blockTable: table, positions: positions, shape: shape)
        let ref = ReferenceKernels.pagedAttention(q: x, cache: cache, layer: 1, blockTable: table, positions: positions, shape: shape)
        #expect(zip(fast.data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    /// The attention row kernel: every ISA variant equals the plain loops — head dims with and without a
    /// tail, one and two 64-float register chunks; visible counts below, at and past the 4-key and 8-lane steps.
    @Test(arguments: [(64, 37), (24, 37), (7, 37), (128, 50), (72, 9), (64, 1), (16, 3), (8, 8)])
    func attentionRowVariantsAgree(d: Int, visible: Int) {
        var seed = UInt64(d * 100 + visible)
        let width = 3 * d
        let entries = Self.random(50 * width, seed: &seed), q = Self.random(d, seed: &seed)
        let slots: [Int64] = (0..<visible).map { Int64(($0 * 7) % 50) }
        func run(_ isa: Int32) -> [Float] {
            var out = [Float](repeating: 0, count: d), scores = [Float](repeating: 0, count: visible)
            ck_attend(isa, q, entries, slots, visible, width, d, 2 * d, d, 0.125, &scores, &out)
            return out
        }
        let portable = run(Int32(CK_ISA_PORTABLE))
        // The same row by hand: softmax of the scaled scores, weighted sum of the values.
        let scores = slots.map { s in (0..<d).reduce(Float(0)) { $0 + q[$1] * entries[Int(s) * width + d + $1] } * 0.125 }
        let m = scores.max()!, e = scores.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
        let expected = (0..<d).map { j in zip(slots, e).reduce(Float(0)) { $0 + $1.1 / total * entries[Int($1.0) * width + 2 * d + j] } }
        #expect(zip(portable, expected).allSatisfy { abs($0 - $1) <= 1e-5 })
        let f = CPUFeatures.detect()
        if f.avx2 && f.fma {
            #expect(zip(run(Int32(CK_ISA_AVX2)), portable).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
    }

    /// SwiGLU's activation: every ISA variant equals the reference formula within a few ulp, across the
    /// range where σ saturates (|g| up to 100) and with a tail after the 8-lane steps.
    @Test func siluMulVariantsAgree() {
        var seed: UInt64 = 11
        let n = 203
        let gate = Self.random(n, seed: &seed).enumerated().map { i, v in i % 10 == 0 ? v * 100 : v * 8 }
        let up = Self.random(n, seed: &seed)
        let expected = ReferenceKernels.siluMul(gate: Matrix(rows: 1, cols: n, data: gate), up: Matrix(rows: 1, cols: n, data: up)).data
        func run(_ isa: Int32) -> [Float] {
            var out = [Float](repeating: .nan, count: n)
            ck_silu_mul(isa, gate, up, &out, n)
            return out
        }
        func close(_ a: [Float], _ b: [Float]) -> Bool {
            zip(a, b).allSatisfy { abs($0 - $1) <= 4 * Float.ulpOfOne * max(abs($1), 1e-30) || abs($0 - $1) < 1e-30 }
        }
        #expect(run(Int32(CK_ISA_PORTABLE)) == expected)
        let f = CPUFeatures.detect()
        if f.avx2 && f.fma { #expect(close(run(Int32(CK_ISA_AVX2)), expected)) }
        #expect(close(device.siluMul(gate: Matrix(rows: 7, cols: 29, data: gate), up: Matrix(rows: 7, cols: 29, data: up)).data, expected))
    }

    /// Batched paged attention over several sequences (a prompt chunk and decodes, scrambled block tables)
    /// gives every row exactly what the one-sequence call gives it, and matches the reference.
    @Test func batchedPagedAttentionEqualsPerSequence() {
        var seed: UInt64 = 21
        let (h, g, d) = (6, 2, 24)
        let shape = AttentionShape(heads: h, kvHeads: g, headDim: d, scale: 0.2)
        let cache = KVBlockStorage(layers: 1, blockCount: 12, blockSize: 4, width: 2 * g * d)
        let tables = [[7, 2, 9], [0], [11, 4, 3, 5]]
        let lengths = [10, 3, 16]
        for (table, n) in zip(tables, lengths) {
            let kv = Matrix(rows: n, cols: 2 * g * d, data: Self.random(n * 2 * g * d, seed: &seed))
            device.writeCache(cache, layer: 0, slots: (0..<n).map { cache.slot(position: $0, blockTable: table) }, values: kv, offset: 0)
        }
        // Sequence 0: a 4-token chunk at positions 6...9; 1: one decode at 2; 2: one decode at 15.
        let positions = [[6, 7, 8, 9], [2], [15]]
        var start = 0
        let sequences = zip(tables, positions).map { table, pos in
            defer { start += pos.count }
            return PagedSequence(rows: start..<(start + pos.count), blockTable: table, positions: pos)
        }
        let q = Matrix(rows: start, cols: h * d, data: Self.random(start * h * d, seed: &seed))
        let batched = device.pagedAttention(q: q, cache: cache, layer: 0, sequences: sequences, shape: shape)
        for seq in sequences {
            let alone = device.pagedAttention(q: q.rows(seq.rows), cache: cache, layer: 0, blockTable: seq.blockTable, positions: seq.positions, shape: shape)
            #expect(batched.rows(seq.rows) == alone)
            let ref = ReferenceKernels.pagedAttention(q: q.rows(seq.rows), cache: cache, layer: 0, blockTable: seq.blockTable, positions: seq.positions, shape: shape)
            #expect(zip(alone.data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
    }

    @Test func attentionIsCausal() {
        // Changing a cache entry beyond a query's position must not change that query's output.
        var seed: UInt64 = 9
        let d = 8
        let q = Matrix(rows: 1, cols: d, data: Self.random(d, seed: &seed))
        let cache = KVBlockStorage(layers: 1, blockCount: 2, blockSize: 2, width: 2 * d)
        let kv = Matrix(rows: 4, cols: 2 * d, data: Self.random(8 * d, seed: &seed))
        device.writeCache(cache, layer: 0, slots: [0, 1, 2, 3], values: kv, offset: 0)
        let shape = AttentionShape(heads: 1, kvHeads: 1, headDim: d, scale: 1)
        func run() -> [Float] { device.pagedAttention(q: q, cache: cache, layer: 0, blockTable: [0, 1], positions: [1], shape: shape).data }
        let before = run()
        device.writeCache(cache, layer: 0, slots: [2, 3], values: Matrix(rows: 2, cols: 2 * d, data: Array(repeating: 100, count: 4 * d)), offset: 0)
        #expect(run() == before)
    }

    /// Table RoPE through the device's angle cache: calls that repeat (table, positions), as a step's layers
    /// do, and calls that change one of them (another table at the same positions, the next step's positions,
    /// more tables than the cache holds) each rotate exactly as the reference loop.
    @Test func ropeAngleCacheRotatesAsTheReference() {
        var seed: UInt64 = 29
        let (t, heads, d) = (3, 4, 16)
        let x = Matrix(rows: t, cols: heads * d, data: Self.random(t * heads * d, seed: &seed))
        func table(_ base: Float, _ factor: Float) -> RoPETable {
            RoPETable(inverseFrequencies: (0..<(d / 2)).map { 1 / pow(base, Float(2 * $0) / Float(d)) }, attentionFactor: factor)
        }
        let tables = [table(10000, 1), table(10000, 1.25), table(500, 1), table(10000, 1)]
        let device = CPUDevice()
        for positions in [[0, 7, 8], [0, 7, 8], [1, 8, 9], [0, 7, 8]] {
            for table in tables + tables.reversed() {
                for style in [RoPEStyle.halves, .interleaved] {
                    var a = x, b = x
                    device.rope(&a, heads: heads, headDim: d, positions: positions, table: table, style: style)
                    ReferenceKernels.rope(&b, heads: heads, headDim: d, positions: positions, table: table, style: style)
                    #expect(a == b, "positions \(positions), factor \(table.attentionFactor), style \(style)")
                }
            }
        }
    }

    /// Prompt-sized element-wise ops are split over the worker pool; every element must come out as in
    /// one pass on one thread (row-wise ops: as the row alone; flat ops: as one C call over everything).
    @Test func elementwiseOpsDoNotDependOnTheSplit() {
        var seed: UInt64 = 23
        let (t, heads, d) = (301, 5, 26)   // 301 × 130 and 301 × 260 elements: above the parallel threshold
        let cols = heads * d
        #expect(t * cols >= 2 * CPUDevice.parallelElements)
        let x = Matrix(rows: t, cols: cols, data: Self.random(t * cols, seed: &seed))
        let w = DeviceWeight(shape: [cols], sourceType: .f32, values: Self.random(cols, seed: &seed))
        let normed = device.rmsNorm(x, weight: w, eps: 1e-6)
        let positions = (0..<t).map { ($0 * 37) % 1000 }
        let table = RoPETable(inverseFrequencies: (0..<(d / 2)).map { 1 / pow(10000, Float(2 * $0) / Float(d)) }, attentionFactor: 1.25)
        var rotated = x, rotatedTheta = x
        device.rope(&rotated, heads: heads, headDim: d, positions: positions, table: table, style: .halves)
        device.rope(&rotatedTheta, heads: heads, headDim: d, positions: positions, theta: 10000, style: .interleaved)
        for r in [0, 1, 150, 299, 300] {
            let row = Matrix(rows: 1, cols: cols, data: x.row(r))
            #expect(device.rmsNorm(row, weight: w, eps: 1e-6).data == normed.row(r))
            var one = row, oneTheta = row
            device.rope(&one, heads: heads, headDim: d, positions: [positions[r]], table: table, style: .halves)
            device.rope(&oneTheta, heads: heads, headDim: d, positions: [positions[r]], theta: 10000, style: .interleaved)
            #expect(one.data == rotated.row(r))
            #expect(oneTheta.data == rotatedTheta.row(r))
        }

        let wide = 2 * cols, n = t * wide
        let gate = Self.random(n, seed: &seed).map { $0 * 9 }, up = Self.random(n, seed: &seed)
        var onePass = [Float](repeating: .nan, count: n)
        ck_silu_mul(device.isa, gate, up, &onePass, n)
        #expect(device.siluMul(gate: Matrix(rows: t, cols: wide, data: gate), up: Matrix(rows: t, cols: wide, data: up)).data == onePass)
        var sum = Matrix(rows: t, cols: wide, data: gate)
        device.add(&sum, Matrix(rows: t, cols: wide, data: up))
        #expect(sum.data == zip(gate, up).map { $0 + $1 })

        // Rows written to scattered cache slots, at a column offset, land where one row at a time puts them.
        let cache = KVBlockStorage(layers: 1, blockCount: 40, blockSize: 8, width: cols + 3)
        let slots = (0..<t).map { ($0 * 97) % 320 }
        device.writeCache(cache, layer: 0, slots: slots, values: x, offset: 3)
        for (r, slot) in slots.enumerated() {
            #expect(Array(cache.entry(layer: 0, slot: slot)[3...]) == x.row(r))
        }
    }

    @Test func siluMulAndEmbedding() {
        let g = Matrix(rows: 1, cols: 3, data: [0, 1, -2]), u = Matrix(rows: 1, cols: 3, data: [5, 2, 1])
        let y = device.siluMul(gate: g, up: u)
        #expect(y.data[0] == 0)
        #expect(abs(y.data[1] - 2 * 0.7310586) < 1e-6)
        #expect(abs(y.data[2] - (-2 * 0.11920292)) < 1e-6)
        let table = DeviceWeight(shape: [3, 2], sourceType: .f32, values: [1, 2, 3, 4, 5, 6])
        #expect(device.embedding([2, 0], table: table).data == [5, 6, 1, 2])
    }
}
