import CKernels
import Testing
@testable import Device

/// The AVX-512 decode attention kernels (a GQA group at one token, and the split phases) give every score
/// and output the AVX2 kernels give, bit for bit, for every key/value element type: the same lane split per
/// score, the same FMA chain per output element, only wider vectors.
@Suite struct AttentionAVX512Tests {
    static var available: Bool { AttentionGroupTests.variants.contains(Int32(CK_ISA_AVX512)) }

    /// Rows 1–7, head dims with 16-, 8- and single-element tails, value widths through every column pass
    /// (128, 64, 16, 8, scalar), MLA's latent shape; visible counts on and off the 8-key block.
    @Test(.enabled(if: available, "needs AVX-512 (F, VL, VNNI)"),
          arguments: [(64, 64), (128, 128), (72, 40), (13, 221), (576, 512), (8, 8)])
    func groupAndSplitPhasesEqualTheAVX2Kernels(dk: Int, dv: Int) {
        let (avx2, avx512) = (Int32(CK_ISA_AVX2), Int32(CK_ISA_AVX512))
        for element in [KVElement.f32, .f16, .bf16] {
            for rows in [1, 2, 3, 5, 7] {
                for visible in [1, 8, 13, 64, 203] {
                    let tag = "\(element) rows \(rows) dk \(dk) dv \(dv) visible \(visible)"
                    var seed = UInt64(dk * 31 + dv + visible * 3 + rows)
                    let positions = visible + 9, kstride = dk + 3, vstride = dv + 5
                    let qstride = dk + 2, ostride = dv + 1, sstride = visible + 3
                    let slots = (0..<visible).map { Int64(($0 * 7 + 3) % positions) }
                    let k = CPUKernelParityTests.random(positions * kstride, seed: &seed).map { $0 * 2 }
                    let v = CPUKernelParityTests.random(positions * vstride, seed: &seed).map { $0 * 4 }
                    let q = CPUKernelParityTests.random(rows * qstride, seed: &seed).map { $0 * 0.3 }
                    // fp32 as drawn; fp16/bf16 as their stored 16-bit words.
                    func bytes(_ x: [Float]) -> [UInt8] {
                        element == .f32 ? x.withUnsafeBytes { Array($0) }
                            : KVCacheElementTests.rounded(x, element).stored.withUnsafeBytes { Array($0) }
                    }
                    let (keys, values) = (bytes(k), bytes(v))
                    func group(_ isa: Int32) -> [Float] {
                        var out = [Float](repeating: 0, count: rows * ostride), scratch = [Float](repeating: .nan, count: 3 * visible)
                        ck_attend_group(isa, element.code, q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible,
                                        0.3, &scratch, &out, ostride)
                        return out
                    }
                    func split(_ isa: Int32) -> (scores: [Float], out: [Float]) {
                        var scores = [Float](repeating: 0, count: rows * sstride), out = [Float](repeating: 0, count: rows * ostride)
                        var scratch = [Float](repeating: .nan, count: 3 * visible)
                        let cut = visible / 2, column = dv / 3
                        ck_attend_scores(isa, element.code, q, qstride, rows, keys, kstride, dk, slots, cut, visible, 0.3, &scores, sstride)
                        ck_attend_scores(isa, element.code, q, qstride, rows, keys, kstride, dk, slots, 0, cut, 0.3, &scores, sstride)
                        ck_attend_values(isa, element.code, rows, scores, sstride, visible, values, vstride, slots, column, dv, &scratch,
                                         &out, ostride)
                        ck_attend_values(isa, element.code, rows, scores, sstride, visible, values, vstride, slots, 0, column, &scratch,
                                         &out, ostride)
                        return (scores, out)
                    }
                    // Booleans, so a failure names the case instead of printing every output.
                    let reference = group(avx2)
                    let meaningful = !reference.contains { $0.isNaN } && reference.contains { $0 != 0 }
                    #expect(meaningful, "\(tag)")
                    let groupSame = group(avx512) == reference
                    #expect(groupSame, "group \(tag)")
                    let (wideScores, wideOut) = split(avx512), (narrowScores, narrowOut) = split(avx2)
                    let (scoresSame, valuesSame) = (wideScores == narrowScores, wideOut == narrowOut && wideOut == reference)
                    #expect(scoresSame, "scores \(tag)")
                    #expect(valuesSame, "values \(tag)")
                }
            }
        }
    }
}
