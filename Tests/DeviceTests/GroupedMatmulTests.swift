import CKernels
import Foundation
import Testing
@testable import Device

/// The one-job grouped matmul over block-quantised weights (CPUDevice+Grouped.swift): each group's rows
/// equal the plain quantised matmul of those rows alone, bit for bit, on every ISA and both activation
/// precisions — so a token's result does not depend on the other tokens of its group or step — and
/// stay within rounding of the fp32 reference.
@Suite struct GroupedMatmulTests {
    typealias P = QuantKernelParityTests

    /// Odd widths and group sizes; a large group (split into several row tasks) next to single-token ones.
    @Test(arguments: [([3, 0, 1, 0, 5, 2], 96, [37, 70]), ([0, 40, 1], 64, [130]), ([1, 1, 1, 1, 1, 1, 1], 320, [33, 16])])
    func groupsEqualPlainMatmulsOfTheirRows(sizes: [Int], k: Int, widths: [Int]) throws {
        for dtype in P.formats {
            var seed = UInt64(k * 7 + sizes.count) &+ UInt64(dtype.rawValue)
            let x = P.activations(sizes.reduce(0, +), k, seed: &seed)
            let sets = widths.map { n in
                // Rows for the fp32 kernels, tiles for the int8 ones.
                sizes.map { _ in DeviceWeight(shape: [n, k], blocks: P.randomBlocks(dtype, rows: n, cols: k, seed: &seed).withTiles()) }
            }
            for isa in P.variants {
                for int8 in [false, true] {
                    let ys = try #require(CPUDevice.fusedGroupedMatmuls(x, sets, groupSizes: sizes, isa: isa, int8: int8))
                    for (s, weights) in sets.enumerated() {
                        var start = 0
                        for (g, size) in sizes.enumerated() where size > 0 {
                            defer { start += size }
                            let rows = x.rows(start..<(start + size)), blocks = weights[g].blocks!
                            let alone = int8 ? QuantKernels.matmulInt8(rows, blocks, isa: isa) : QuantKernels.matmul(rows, blocks, isa: isa)
                            #expect(ys[s].rows(start..<(start + size)) == alone, "\(dtype) isa \(isa) int8 \(int8) set \(s) group \(g)")
                            // One token alone gives its row of the group bit for bit.
                            let one = int8 ? QuantKernels.matmulInt8(x.rows(start..<(start + 1)), blocks, isa: isa)
                                           : QuantKernels.matmul(x.rows(start..<(start + 1)), blocks, isa: isa)
                            #expect(one.data == ys[s].row(start))
                        }
                        if !int8 {
                            let ref = ReferenceKernels.groupedMatmul(x, weights, groupSizes: sizes)
                            let scale = ref.data.map(abs).max() ?? 1
                            #expect(zip(ys[s].data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
                        }
                    }
                }
            }
        }
    }

    @Test func deviceTakesTheOneJobPathAndFallsBackForFp32Weights() {
        var seed: UInt64 = 21
        let sizes = [2, 0, 3]
        let x = P.activations(5, 64, seed: &seed)
        let rowsOnly = sizes.map { _ in DeviceWeight(shape: [24, 64], blocks: P.randomBlocks(.q8_0, rows: 24, cols: 64, seed: &seed)) }
        let quantised = rowsOnly.map { DeviceWeight(shape: [24, 64], blocks: $0.blocks!.withTiles()) }
        for activations in ActivationPrecision.allCases {
            let device = CPUDevice(activations: activations)
            let fused = CPUDevice.fusedGroupedMatmuls(x, [quantised], groupSizes: sizes, isa: device.isa, int8: activations == .int8)
            #expect(fused?.first == device.groupedMatmul(x, quantised, groupSizes: sizes))
        }
        // int8 activations multiply tiles only: weights without them take the per-group path, which tiles them.
        #expect(CPUDevice.fusedGroupedMatmuls(x, [rowsOnly], groupSizes: sizes, isa: 0, int8: true) == nil)
        let int8 = CPUDevice(activations: .int8)
        #expect(int8.groupedMatmul(x, rowsOnly, groupSizes: sizes) == int8.groupedMatmul(x, quantised, groupSizes: sizes))
        let fp32 = quantised.map { DeviceWeight(shape: [24, 64], sourceType: .f32, values: $0.values) }
        #expect(CPUDevice.fusedGroupedMatmuls(x, [fp32], groupSizes: sizes, isa: 0, int8: false) == nil)
        let device = CPUDevice()
        let both = device.groupedMatmuls(x, [fp32, quantised], groupSizes: sizes)
        #expect(both[0] == device.groupedMatmul(x, fp32, groupSizes: sizes))
        #expect(both[1] == device.groupedMatmul(x, quantised, groupSizes: sizes))
    }

    /// Every (set, group, weight row) falls in exactly one task, whatever the group sizes.
    @Test(arguments: [[1, 0, 7], [512], [0, 0, 3, 1, 1, 1, 200], [1]])
    func tasksCoverEveryRowOnce(sizes: [Int]) {
        for (workers, rowBytes) in [(1, 34), (2, 1088), (8, 68), (2, 100_000)] {
            let widths = [37, 512]
            let tasks = GroupedTask.split(sets: widths, groupSizes: sizes, rowBytes: rowBytes, workers: workers)
            var seen = Set<[Int]>()
            var start = 0
            var starts: [Int] = []
            for size in sizes { starts.append(start); start += size }
            for t in tasks {
                #expect(t.start == starts[t.group] && sizes[t.group] > 0)
                for r in t.rows { #expect(seen.insert([t.set, t.group, r]).inserted) }
            }
            #expect(seen.count == widths.reduce(0, +) * sizes.filter { $0 > 0 }.count)
            // The job ends in small pieces (~16 KB of weights, at least 16 rows) when there is more than one worker.
            if workers > 1, let last = tasks.last, tasks.count > workers {
                #expect(last.rows.count <= max(16, (16_384 / rowBytes + 15) / 16 * 16), "workers \(workers), row bytes \(rowBytes)")
            }
        }
    }

    /// The keys-apart attention row kernel: AVX2 equals the portable loops, which equal the formula, for
    /// paged (slots) and contiguous keys, with key and value widths that differ and have tails.
    @Test(arguments: [(96, 64), (288, 256), (13, 7)])
    func keyValueAttentionRowVariantsAgree(dk: Int, dv: Int) {
        var seed = UInt64(dk * 3 + dv)
        let visible = 29, kstride = dk + 5, vstride = dv + 3
        let keys = CPUKernelParityTests.random(40 * kstride, seed: &seed), values = CPUKernelParityTests.random(40 * vstride, seed: &seed)
        let q = CPUKernelParityTests.random(dk, seed: &seed)
        for slots in [(0..<visible).map { Int64(($0 * 11) % 40) }, nil] {
            func run(_ isa: Int32) -> [Float] {
                var out = [Float](repeating: 0, count: dv), scores = [Float](repeating: 0, count: visible)
                if let slots {
                    ck_attend_kv(isa, Int32(CK_KV_F32), q, keys, kstride, dk, values, vstride, dv, slots, visible, 0.2, &scores, &out)
                } else {
                    ck_attend_kv(isa, Int32(CK_KV_F32), q, keys, kstride, dk, values, vstride, dv, nil, visible, 0.2, &scores, &out)
                }
                return out
            }
            let pos = (0..<visible).map { i in slots.map { Int($0[i]) } ?? i }
            let scores = pos.map { s in (0..<dk).reduce(Float(0)) { $0 + q[$1] * keys[s * kstride + $1] } * 0.2 }
            let m = scores.max()!, e = scores.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
            let expected = (0..<dv).map { j in zip(pos, e).reduce(Float(0)) { $0 + $1.1 / total * values[$1.0 * vstride + j] } }
            let portable = run(Int32(CK_ISA_PORTABLE))
            #expect(zip(portable, expected).allSatisfy { abs($0 - $1) <= 1e-5 })
            for isa in P.variants { #expect(zip(run(isa), portable).allSatisfy { abs($0 - $1) <= 1e-5 }) }
        }
    }
}

/// The fused absorbed MLA attention (CPUDevice+AbsorbedMLA.swift) equals its composition from the
/// separate ops — per-head matmuls with W_UK,hᵀ, latent attention, per-head matmuls with W_UV,h — bit for
/// bit, for both activation precisions and sequences of different lengths in one call.
@Suite struct AbsorbedLatentAttentionTests {
    typealias P = QuantKernelParityTests

    static func columns(_ m: Matrix, _ range: Range<Int>) -> Matrix {
        Matrix(rows: m.rows, cols: range.count, data: (0..<m.rows).flatMap { Array(m.row($0)[range]) })
    }

    /// 3 and 7 heads: on two workers, runs of 2 + 1 and 4 + 3 heads, so the grouped attention takes
    /// threes, a pair and single rows.
    @Test(arguments: ActivationPrecision.allCases, [3, 7])
    func fusedEqualsComposition(activations: ActivationPrecision, h: Int) throws {
        var seed: UInt64 = 51
        let (n, p, r, v) = (64, 8, 96, 32)
        let device = CPUDevice(activations: activations)
        let cache = KVBlockStorage(layers: 2, blockCount: 8, blockSize: 4, width: r + p)
        let tables = [[2, 5], [0, 7, 1]], positions = [[6], [9, 10]]
        for (table, pos) in zip(tables, positions) {
            let slots = (0...pos.last!).map { cache.slot(position: $0, blockTable: table) }
            device.writeCache(cache, layer: 1, slots: slots, values: P.activations(slots.count, r + p, seed: &seed), offset: 0)
        }
        let sequences = [PagedSequence(rows: 0..<1, blockTable: tables[0], positions: positions[0]),
                         PagedSequence(rows: 1..<3, blockTable: tables[1], positions: positions[1])]
        let qNope = P.activations(3, h * n, seed: &seed), qRope = P.activations(3, h * p, seed: &seed)
        let wk = (0..<h).map { _ in DeviceWeight(shape: [r, n], blocks: P.randomBlocks(.q8_0, rows: r, cols: n, seed: &seed).withTiles()) }
        let wv = (0..<h).map { _ in DeviceWeight(shape: [v, r], blocks: P.randomBlocks(.q8_0, rows: v, cols: r, seed: &seed).withTiles()) }
        let shape = LatentAttentionShape(heads: h, keyDim: r + p, valueDim: r, scale: 0.2)
        let fused = try #require(device.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: wk, absorbedV: wv,
                                                                cache: cache, layer: 1, sequences: sequences, shape: shape))
        // The composition, head by head.
        let latent = (0..<h).map { device.matmul(Self.columns(qNope, ($0 * n)..<(($0 + 1) * n)), wk[$0]) }
        let q = Matrix(rows: 3, cols: h * (r + p), data: (0..<3).flatMap { i in
            (0..<h).flatMap { hd in latent[hd].row(i) + Array(qRope.row(i)[(hd * p)..<((hd + 1) * p)]) }
        })
        let o = device.pagedLatentAttention(q: q, cache: cache, layer: 1, sequences: sequences, shape: shape)
        let heads = (0..<h).map { device.matmul(Self.columns(o, ($0 * r)..<(($0 + 1) * r)), wv[$0]) }
        let composed = Matrix(rows: 3, cols: h * v, data: (0..<3).flatMap { i in (0..<h).flatMap { heads[$0].row(i) } })
        #expect(fused == composed)
        // Heads share per-item buffers: identical heads give identical outputs.
        let q1 = Self.columns(qNope, n..<(2 * n)), r1 = Self.columns(qRope, p..<(2 * p))
        let same = try #require(device.absorbedLatentAttention(
            qNope: Matrix(rows: 3, cols: h * n, data: (0..<3).flatMap { i in (0..<h).flatMap { _ in q1.row(i) } }),
            qRope: Matrix(rows: 3, cols: h * p, data: (0..<3).flatMap { i in (0..<h).flatMap { _ in r1.row(i) } }),
            absorbedK: Array(repeating: wk[1], count: h), absorbedV: Array(repeating: wv[1], count: h),
            cache: cache, layer: 1, sequences: sequences, shape: shape))
        #expect((0..<3).allSatisfy { i in (0..<h).allSatisfy { Array(same.row(i)[($0 * v)..<(($0 + 1) * v)]) == heads[1].row(i) } })
        // fp32 weights have no fused form, nor, for int8 activations, block weights without tiles: the caller composes.
        if activations == .int8 {
            let rowsOnly = wk.map { w in
                DeviceWeight(shape: [r, n], blocks: w.blocks!.bytes.withUnsafeBytes { QuantisedBlocks(dtype: .q8_0, rows: r, cols: n, source: $0) })
            }
            #expect(device.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: rowsOnly, absorbedV: wv,
                                                   cache: cache, layer: 1, sequences: sequences, shape: shape) == nil)
        }
        let fp32 = wk.map { DeviceWeight(shape: [r, n], sourceType: .f32, values: $0.values) }
        #expect(device.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: fp32, absorbedV: wv,
                                               cache: cache, layer: 1, sequences: sequences, shape: shape) == nil)
    }
}
