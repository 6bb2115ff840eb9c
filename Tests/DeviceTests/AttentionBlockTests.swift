import CKernels
import Testing
@testable import Device

/// The block attention kernel (consecutive tokens of one sequence × the heads sharing their keys) gives
/// every row bit for bit what the row kernel gives it alone, whatever the block's shape, so a prompt's
/// results do not depend on how its tokens are run together; the runs it is given follow the sequences.
@Suite struct AttentionBlockTests {
    typealias P = QuantKernelParityTests

    struct Shape {
        var tokens, heads, dk, dv, visible: Int
        var paged: Bool
    }

    /// Rows ck_attend_block writes for `shape`, and the same rows from ck_attend_kv one at a time. Row
    /// (t, h) sits at t·tstride + h·hstride in q and out, strides padded so no row touches another.
    static func both(isa: Int32, _ s: Shape, seed: UInt64) -> (block: [Float], alone: [Float]) {
        var seed = seed
        let last = s.visible + s.tokens - 1, positions = last + 9
        let kstride = s.dk + 3, vstride = s.dv + 5
        let (qh, qt) = (s.dk + 2, s.heads * (s.dk + 2) + 1), (oh, ot) = (s.dv + 1, s.heads * (s.dv + 1) + 3)
        let keys = CPUKernelParityTests.random(positions * kstride, seed: &seed)
        let values = CPUKernelParityTests.random(positions * vstride, seed: &seed)
        // Larger queries too, so the softmax is peaked and its tail matters.
        let q = CPUKernelParityTests.random(s.tokens * qt, seed: &seed).map { $0 * 3 }
        let slots: [Int64]? = s.paged ? (0..<last).map { Int64(($0 * 7 + 3) % positions) } : nil
        var block = [Float](repeating: 0, count: s.tokens * ot), alone = block
        var scores = [Float](repeating: .nan, count: ck_attend_block_scores(s.tokens, s.heads, s.visible))
        func call(_ q: UnsafePointer<Float>, tokens: Int, heads: Int, visible: Int, _ out: UnsafeMutablePointer<Float>) {
            if let slots {
                ck_attend_block(isa, Int32(CK_KV_F32), tokens, heads, q, qt, qh, keys, kstride, s.dk, values, vstride, s.dv, slots, visible, 0.3,
                                &scores, out, ot, oh)
            } else {
                ck_attend_block(isa, Int32(CK_KV_F32), tokens, heads, q, qt, qh, keys, kstride, s.dk, values, vstride, s.dv, nil, visible, 0.3,
                                &scores, out, ot, oh)
            }
        }
        q.withUnsafeBufferPointer { qp in
            block.withUnsafeMutableBufferPointer { call(qp.baseAddress!, tokens: s.tokens, heads: s.heads, visible: s.visible, $0.baseAddress!) }
            alone.withUnsafeMutableBufferPointer { op in
                for t in 0..<s.tokens {
                    for h in 0..<s.heads {
                        let (qr, or) = (qp.baseAddress! + t * qt + h * qh, op.baseAddress! + t * ot + h * oh)
                        if let slots {
                            ck_attend_kv(isa, Int32(CK_KV_F32), qr, keys, kstride, s.dk, values, vstride, s.dv, slots, s.visible + t, 0.3, &scores, or)
                        } else {
                            ck_attend_kv(isa, Int32(CK_KV_F32), qr, keys, kstride, s.dk, values, vstride, s.dv, nil, s.visible + t, 0.3, &scores, or)
                        }
                    }
                }
            }
        }
        return (block, alone)
    }

    /// Blocks of 1–13 tokens × 1–8 heads (tiles of three rows that straddle tokens, pairs and single rows
    /// left over); head dims with and without 16- and 8-float tails; visible counts below, at and past
    /// the 8-key block and the 64-position value block; value widths through every column slab (64, 32,
    /// 16, 8 and single columns).
    @Test(arguments: [(64, 64), (7, 13), (24, 40), (96, 64), (16, 8), (288, 256), (1, 1), (40, 221)])
    func everyRowEqualsTheRowKernelAlone(dk: Int, dv: Int) {
        for isa in AttentionGroupTests.variants {
            for (tokens, heads) in [(2, 1), (4, 3), (3, 4), (13, 1), (2, 8), (5, 2), (1, 5)] {
                for visible in [1, 7, 8, 9, 63, 70] {
                    for paged in [true, false] {
                        let shape = Shape(tokens: tokens, heads: heads, dk: dk, dv: dv, visible: visible, paged: paged)
                        let seed = UInt64(dk * 7919 + dv * 131 + tokens * 17 + heads * 5 + visible) &+ (paged ? 1 : 0)
                        let (block, alone) = Self.both(isa: isa, shape, seed: seed)
                        #expect(!block.contains { $0.isNaN })
                        #expect(block == alone, "isa \(isa) \(shape)")
                    }
                }
            }
        }
    }

    /// One token's heads over keys past the L2 threshold take the blocked path (below it the group
    /// kernel's): both equal the row kernel; so does a block past the 256 rows the blocked path holds.
    @Test func longContextsAndManyRowsEqualTheRowKernel() {
        for isa in AttentionGroupTests.variants {
            for shape in [Shape(tokens: 1, heads: 8, dk: 72, dv: 64, visible: 1_000, paged: true),   // 288 KB of keys
                          Shape(tokens: 1, heads: 8, dk: 72, dv: 64, visible: 200, paged: true),
                          Shape(tokens: 65, heads: 4, dk: 16, dv: 8, visible: 3, paged: false)] {
                let (block, alone) = Self.both(isa: isa, shape, seed: UInt64(shape.visible + shape.tokens))
                #expect(!block.contains { $0.isNaN })
                #expect(block == alone, "isa \(isa) \(shape)")
            }
        }
    }

    /// Runs break where the sequence (slot list) changes, where positions stop being consecutive, and at
    /// the length asked for.
    @Test func tokenRunsFollowSequencesAndPositions() {
        let positions = [0, 1, 2, 3, 4, 9, 10, 5, 6, 7]
        let rowSlots = [0, 0, 0, 0, 0, 0, 0, 20, 20, 20]
        let runs = CPUDevice.tokenRuns(positions: positions, rowSlots: rowSlots, maxTokens: 3)
        #expect(runs.map { [$0.start, $0.count] } == [[0, 3], [3, 2], [5, 2], [7, 3]])
        #expect(CPUDevice.tokenRuns(positions: [5, 6], rowSlots: [0, 8], maxTokens: 4).map { $0.count } == [1, 1])
        #expect(CPUDevice.tokenRuns(positions: [], rowSlots: [], maxTokens: 4).isEmpty)
    }
}
