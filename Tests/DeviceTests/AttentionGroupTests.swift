import CKernels
import Testing
@testable import Device

/// The grouped attention kernel (several query rows over the same keys, as a GQA group's heads at one
/// token) gives every row bit for bit what the row kernel gives it alone, so prefill results do not
/// depend on how heads are grouped; pagedAttention, which runs it, matches the plain reference.
@Suite struct AttentionGroupTests {
    typealias P = QuantKernelParityTests

    /// ISAs of the attention kernels on this CPU: the portable loops, AVX2, and AVX-512 (the group kernel,
    /// the split phases and the blocked kernel; the row kernel runs its AVX2 code there) where `CPUDevice`
    /// picks it.
    static var variants: [Int32] {
        let isa = QuantKernels.isa(for: CPUFeatures.detect())
        return P.variants + (isa == Int32(CK_ISA_AVX512) ? [isa] : [])
    }

    /// Rows ck_attend_group writes for `rows` queries, and the same rows from ck_attend_kv one at a time.
    static func both(isa: Int32, rows: Int, dk: Int, dv: Int, visible: Int, paged: Bool, seed: UInt64) -> (group: [Float], alone: [Float]) {
        var seed = seed
        let positions = visible + 11, kstride = dk + 3, vstride = dv + 5, qstride = dk + 2, ostride = dv + 1
        let keys = CPUKernelParityTests.random(positions * kstride, seed: &seed)
        let values = CPUKernelParityTests.random(positions * vstride, seed: &seed)
        // Larger queries too, so the softmax is peaked and its tail matters.
        let q = CPUKernelParityTests.random(rows * qstride, seed: &seed).map { $0 * 3 }
        let slots: [Int64]? = paged ? (0..<visible).map { Int64(($0 * 7 + 3) % positions) } : nil
        func call(_ q: UnsafePointer<Float>, _ n: Int, _ out: UnsafeMutablePointer<Float>, _ scores: UnsafeMutablePointer<Float>) {
            if let slots {
                ck_attend_group(isa, Int32(CK_KV_F32), q, qstride, n, keys, kstride, dk, values, vstride, dv, slots, visible, 0.3, scores, out, ostride)
            } else {
                ck_attend_group(isa, Int32(CK_KV_F32), q, qstride, n, keys, kstride, dk, values, vstride, dv, nil, visible, 0.3, scores, out, ostride)
            }
        }
        var group = [Float](repeating: 0, count: rows * ostride), alone = group
        var scores = [Float](repeating: .nan, count: 3 * visible)
        q.withUnsafeBufferPointer { qp in
            group.withUnsafeMutableBufferPointer { call(qp.baseAddress!, rows, $0.baseAddress!, &scores) }
            alone.withUnsafeMutableBufferPointer { op in
                for r in 0..<rows { call(qp.baseAddress! + r * qstride, 1, op.baseAddress! + r * ostride, &scores) }
            }
        }
        return (group, alone)
    }

    /// Groups of 1 to 7 rows (threes, then a pair or a single); head dims with and without 16- and
    /// 8-float tails; visible counts below, at and past the 8-key block and the 32-column value pass;
    /// values of 128 columns and more (the AVX-512 kernel's widest pass, then 64, 16, 8 and single columns).
    @Test(arguments: [(64, 64), (7, 13), (24, 40), (72, 72), (16, 8), (96, 33), (1, 1), (128, 128), (40, 221)])
    func everyRowEqualsTheRowKernelAlone(dk: Int, dv: Int) {
        for isa in Self.variants {
            for rows in [1, 2, 3, 4, 5, 7] {
                for visible in [1, 2, 7, 8, 9, 16, 17, 40] {
                    for paged in [true, false] {
                        let seed = UInt64(dk * 7919 + dv * 131 + rows * 17 + visible) &+ (paged ? 1 : 0)
                        let (group, alone) = Self.both(isa: isa, rows: rows, dk: dk, dv: dv, visible: visible, paged: paged, seed: seed)
                        #expect(!group.contains { $0.isNaN })
                        #expect(group == alone, "isa \(isa) rows \(rows) dk \(dk) dv \(dv) visible \(visible) paged \(paged)")
                    }
                }
            }
        }
    }

    /// The row kernel alone (already checked against the formula) agrees across ISAs, so the grouped
    /// AVX2 kernel is within tolerance of the portable one.
    @Test func avx2GroupIsCloseToThePortableGroup() {
        guard P.variants.count > 1 else { return }
        let a = Self.both(isa: P.variants[0], rows: 5, dk: 64, dv: 64, visible: 37, paged: true, seed: 5).group
        let b = Self.both(isa: P.variants[1], rows: 5, dk: 64, dv: 64, visible: 37, paged: true, seed: 5).group
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    /// A prompt chunk through pagedAttention (grouped work items, rows in interleaved order) equals the
    /// reference for group sizes 1, 3, 4 and 5, and each token's rows equal the same token attending
    /// alone (its decode form): grouping never changes a row's bits.
    @Test(arguments: [(4, 4), (6, 2), (8, 2), (10, 2)])
    func pagedAttentionMatchesReferenceAndSingleTokens(heads: Int, kvHeads: Int) {
        let device = CPUDevice()
        var seed = UInt64(heads * 10 + kvHeads)
        let (t, d) = (13, 24)
        let cache = KVBlockStorage(layers: 1, blockCount: 5, blockSize: 4, width: 2 * kvHeads * d)
        let table = [3, 0, 4, 1]
        let slots = (0..<t).map { cache.slot(position: $0, blockTable: table) }
        let keys = Matrix(rows: t, cols: kvHeads * d, data: CPUKernelParityTests.random(t * kvHeads * d, seed: &seed))
        let values = Matrix(rows: t, cols: kvHeads * d, data: CPUKernelParityTests.random(t * kvHeads * d, seed: &seed))
        device.writeCache(cache, layer: 0, slots: slots, values: keys, offset: 0)
        device.writeCache(cache, layer: 0, slots: slots, values: values, offset: kvHeads * d)
        let q = Matrix(rows: t, cols: heads * d, data: CPUKernelParityTests.random(t * heads * d, seed: &seed).map { $0 * 2 })
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d, scale: 0.2)
        let positions = Array(0..<t)
        let fast = device.pagedAttention(q: q, cache: cache, layer: 0, blockTable: table, positions: positions, shape: shape)
        let ref = ReferenceKernels.pagedAttention(q: q, cache: cache, layer: 0, blockTable: table, positions: positions, shape: shape)
        #expect(zip(fast.data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 })
        for i in [0, 3, 4, 12] {
            let one = Matrix(rows: 1, cols: q.cols, data: q.row(i))
            let alone = device.pagedAttention(q: one, cache: cache, layer: 0, blockTable: table, positions: [i], shape: shape)
            #expect(alone.row(0) == fast.row(i), "token \(i) differs from its rows in the chunk")
        }
    }
}

/// The step-level memo of resolved visible slots gives what resolving them afresh gives, for the same
/// sequence list, another list, another block size and another run length.
@Suite struct VisibleSlotsCacheTests {
    static func same(_ a: VisibleSlots, _ b: VisibleSlots) -> Bool {
        a.slots == b.slots && a.positions == b.positions && a.rowSlots == b.rowSlots
    }

    @Test func memoisedSlotsEqualFreshOnes() {
        let memo = VisibleSlotsCache()
        let cache4 = KVBlockStorage(layers: 1, blockCount: 8, blockSize: 4, width: 2)
        let cache8 = KVBlockStorage(layers: 1, blockCount: 8, blockSize: 8, width: 2)
        let a = [PagedSequence(rows: 0..<2, blockTable: [3, 1, 6], positions: [9, 10]),
                 PagedSequence(rows: 2..<3, blockTable: [0, 2], positions: [5])]
        let b = [PagedSequence(rows: 0..<3, blockTable: [5, 4], positions: [4, 5, 6])]
        for (sequences, cache) in [(a, cache4), (a, cache4), (b, cache4), (a, cache8), (a, cache4)] {
            let fresh = CPUDevice.visibleSlots(sequences, cache: cache, rows: 3)
            for maxTokens in [1, 4, 1] {
                let (visible, runs) = memo.resolve(sequences, cache: cache, rows: 3, runs: maxTokens)
                #expect(Self.same(visible, fresh))
                let expected = CPUDevice.tokenRuns(positions: fresh.positions, rowSlots: fresh.rowSlots, maxTokens: maxTokens)
                #expect(runs.map(\.start) == expected.map(\.start) && runs.map(\.count) == expected.map(\.count))
            }
        }
        // A list with the same contents in another buffer resolves to the same values too.
        let copy = a.map { $0 }
        #expect(Self.same(memo.resolve(copy, cache: cache4, rows: 3).visible, CPUDevice.visibleSlots(a, cache: cache4, rows: 3)))
    }
}
