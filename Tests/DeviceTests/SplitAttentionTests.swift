import CKernels
import Testing
@testable import Device

/// One decoding token's attention split over cores by keys, then by value columns
/// (`ck_attend_scores` / `ck_attend_values`, `CPUDevice.splitDecodeAttention`) gives every row bit for bit
/// what the group kernel gives it in one piece, so a decode's result never depends on whether it ran split.
@Suite struct SplitAttentionTests {
    typealias P = QuantKernelParityTests

    /// The group kernel's rows, and the same rows from the two phases with keys cut at `keyCuts` and
    /// columns at `columnCuts` (each phase run part by part, in reverse order, as another core might).
    static func both(isa: Int32, rows: Int, dk: Int, dv: Int, visible: Int, keyCuts: [Int], columnCuts: [Int],
                     seed: UInt64) -> (whole: [Float], split: [Float]) {
        var seed = seed
        let positions = visible + 9, kstride = dk + 3, vstride = dv + 5, qstride = dk + 2, ostride = dv + 1
        let keys = CPUKernelParityTests.random(positions * kstride, seed: &seed)
        let values = CPUKernelParityTests.random(positions * vstride, seed: &seed)
        let q = CPUKernelParityTests.random(rows * qstride, seed: &seed).map { $0 * 3 }
        let slots = (0..<visible).map { Int64(($0 * 7 + 3) % positions) }
        var whole = [Float](repeating: 0, count: rows * ostride), split = whole
        var scratch = [Float](repeating: .nan, count: 3 * visible)
        ck_attend_group(isa, Int32(CK_KV_F32), q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, 0.3, &scratch, &whole, ostride)
        let sstride = visible + 3
        var scores = [Float](repeating: .nan, count: rows * sstride)
        let keyBounds = [0] + keyCuts + [visible], columnBounds = [0] + columnCuts + [dv]
        for p in (0..<(keyBounds.count - 1)).reversed() {
            ck_attend_scores(isa, Int32(CK_KV_F32), q, qstride, rows, keys, kstride, dk, slots, keyBounds[p], keyBounds[p + 1], 0.3, &scores, sstride)
        }
        for p in (0..<(columnBounds.count - 1)).reversed() {
            ck_attend_values(isa, Int32(CK_KV_F32), rows, scores, sstride, visible, values, vstride, slots, columnBounds[p], columnBounds[p + 1],
                             &scratch, &split, ostride)
        }
        return (whole, split)
    }

    /// Rows 1–8 (threes, then a pair or a single), head dims with and without 8-float tails, MLA's
    /// shape (keys wider than values), visible counts on and off the 8-key block, cuts on multiples of 8.
    @Test(arguments: [(64, 64), (36, 36), (288, 256), (16, 8), (72, 40), (128, 200)])
    func twoPhasesEqualTheGroupKernel(dk: Int, dv: Int) {
        for isa in AttentionGroupTests.variants {
            for rows in [1, 2, 3, 4, 5, 8] {
                for visible in [8, 9, 23, 40, 300] {
                    let keyCuts = visible > 16 ? [visible / 16 * 8] : []
                    let columnCuts = dv >= 16 ? [dv / 16 * 8] : []
                    let seed = UInt64(dk * 7919 + dv * 131 + rows * 17 + visible)
                    let (whole, split) = Self.both(isa: isa, rows: rows, dk: dk, dv: dv, visible: visible, keyCuts: keyCuts,
                                                   columnCuts: columnCuts, seed: seed)
                    #expect(!whole.contains { $0.isNaN })
                    #expect(whole == split, "isa \(isa) rows \(rows) dk \(dk) dv \(dv) visible \(visible)")
                }
            }
        }
    }

    /// Cuts anywhere (not only on multiples of 8) keep the bits too: a key's score does not depend on
    /// where its block starts.
    @Test func cutsOffTheBlockGridKeepTheBits() {
        for isa in AttentionGroupTests.variants {
            let (whole, split) = Self.both(isa: isa, rows: 3, dk: 64, dv: 64, visible: 61, keyCuts: [5, 22, 23], columnCuts: [24, 40],
                                           seed: 77)
            #expect(whole == split)
        }
    }

    /// A sequence decoding alone from a long context (3 KV heads: split on two or more cores) gets the
    /// rows it gets next to a second sequence (6 items: not split), and the reference's within tolerance.
    @Test func decodeAloneEqualsDecodeInABatch() {
        let device = CPUDevice()
        var seed: UInt64 = 5
        let (h, g, d) = (9, 3, 64)
        let n = CPUDevice.splitAttentionVisible + 37
        let shape = AttentionShape(heads: h, kvHeads: g, headDim: d, scale: 0.125)
        let blocks = (n + 15) / 16
        let cache = KVBlockStorage(layers: 1, blockCount: 2 * blocks, blockSize: 16, width: 2 * g * d)
        let tables = [(0..<blocks).map { ($0 * 5) % (2 * blocks) }, (0..<blocks).map { ($0 * 5 + 1) % (2 * blocks) }]
        for table in tables {
            let kv = Matrix(rows: n, cols: 2 * g * d, data: CPUKernelParityTests.random(n * 2 * g * d, seed: &seed))
            device.writeCache(cache, layer: 0, slots: (0..<n).map { cache.slot(position: $0, blockTable: table) }, values: kv, offset: 0)
        }
        let q = Matrix(rows: 2, cols: h * d, data: CPUKernelParityTests.random(2 * h * d, seed: &seed).map { $0 * 4 })
        let alone = device.pagedAttention(q: q.rows(0..<1), cache: cache, layer: 0, blockTable: tables[0], positions: [n - 1], shape: shape)
        let batch = device.pagedAttention(q: q, cache: cache, layer: 0, sequences: [
            PagedSequence(rows: 0..<1, blockTable: tables[0], positions: [n - 1]),
            PagedSequence(rows: 1..<2, blockTable: tables[1], positions: [n - 2]),
        ], shape: shape)
        #expect(alone.data == batch.rows(0..<1).data)
        let ref = ReferenceKernels.pagedAttention(q: q.rows(0..<1), cache: cache, layer: 0, blockTable: tables[0], positions: [n - 1], shape: shape)
        #expect(zip(alone.data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    /// The value phase gives whole heads where they divide over the parts and splits only the rest by columns.
    @Test func valueItemsSplitOnlyTheHeadsLeftOver() {
        #expect(CPUDevice.valueItems(kvHeads: 3, parts: 2) == (whole: 2, perRun: 4))    // SmolLM2 on 2 cores
        #expect(CPUDevice.valueItems(kvHeads: 1, parts: 2) == (whole: 0, perRun: 2))
        #expect(CPUDevice.valueItems(kvHeads: 5, parts: 4) == (whole: 4, perRun: 8))
        #expect(CPUDevice.valueItems(kvHeads: 3, parts: 4) == (whole: 0, perRun: 12))
    }

    /// Which steps split: a few decoding rows whose items do not divide evenly, over a long context.
    @Test func splitsOnlyFewUnevenDecodesOverLongContexts() {
        let v = CPUDevice.splitAttentionVisible
        #expect(CPUDevice.splitsDecodeAttention(items: 3, workers: 2, decoding: true, visible: v, headDim: 64))    // SmolLM2 alone
        #expect(CPUDevice.splitsDecodeAttention(items: 1, workers: 2, decoding: true, visible: v, headDim: 64))
        #expect(!CPUDevice.splitsDecodeAttention(items: 3, workers: 2, decoding: true, visible: v - 1, headDim: 64))
        #expect(!CPUDevice.splitsDecodeAttention(items: 6, workers: 2, decoding: true, visible: v, headDim: 64))   // even already
        #expect(!CPUDevice.splitsDecodeAttention(items: 9, workers: 2, decoding: true, visible: v, headDim: 64))   // enough items
        #expect(!CPUDevice.splitsDecodeAttention(items: 3, workers: 2, decoding: false, visible: v, headDim: 64))  // a prompt
        #expect(!CPUDevice.splitsDecodeAttention(items: 3, workers: 1, decoding: true, visible: v, headDim: 64))
        #expect(!CPUDevice.splitsDecodeAttention(items: 3, workers: 2, decoding: true, visible: v, headDim: 24))   // no 8-column halves
    }
}
