import CKernels
import Testing
@testable import Device

/// The fp32-activation quantised matmul reduces every (row, token) in one order whatever path runs it
/// (decode register tile, prompt panel tiles of 3 rows × 4 tokens, their edge tiles, the register-only
/// fallback), so a (row, token) result is bit-identical across batch sizes, token positions and the row
/// ranges the work split hands a thread.
@Suite struct QuantTileInvarianceTests {
    /// y[t·n + r] for rows [r0, r1) of `blocks` and the tokens of `x`, through the C entry points.
    static func run(_ x: Matrix, _ blocks: QuantisedBlocks, isa: Int32, rows: Range<Int>, registersOnly: Bool = false) -> [Float] {
        let n = blocks.rows, t = x.rows, k = x.cols
        var sums = [Float](repeating: 0, count: t * k / 32)
        x.data.withUnsafeBufferPointer { ck_block_sums($0.baseAddress!, t * k / 32, &sums) }
        var y = [Float](repeating: .nan, count: t * n)
        x.data.withUnsafeBufferPointer { xp in
            blocks.bytes.withUnsafeBufferPointer { wp in
                let call = registersOnly ? ck_matmul_blocks_registers_only : ck_matmul_blocks
                call(isa, Int32(blocks.dtype.rawValue), wp.baseAddress!, blocks.rowBytes, rows.lowerBound, rows.upperBound,
                     xp.baseAddress!, sums, t, k, &y, n)
            }
        }
        return y
    }

    /// Shapes that hit every edge: rows not a multiple of the tiles (and ranges starting at odd rows),
    /// token counts below, at and above the 4-token tile and the 64-token block, k of 1 to 48 blocks.
    @Test(arguments: [(5, 32, 7), (4, 96, 13), (6, 160, 26), (9, 64, 12), (70, 64, 11), (17, 1536, 5)])
    func everyPathGivesTheSameBitsForEveryToken(t: Int, k: Int, n: Int) {
        for dtype in QuantKernelParityTests.formats {
            var seed = UInt64(t * 131 + k * 7 + n) &+ UInt64(dtype.rawValue)
            let blocks = QuantKernelParityTests.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = QuantKernelParityTests.activations(t, k, seed: &seed)
            for isa in QuantKernelParityTests.variants {
                let all = Self.run(x, blocks, isa: isa, rows: 0..<n)
                #expect(!all.contains { $0.isNaN }, "\(dtype) isa \(isa): rows left unwritten")
                #expect(Self.run(x, blocks, isa: isa, rows: 0..<n, registersOnly: true) == all,
                        "\(dtype) isa \(isa) [\(t), \(k)]·[\(n), \(k)]ᵀ: register-only path differs")
                // A range starting at row 1: every tile is shifted against the full-range one.
                let shifted = Self.run(x, blocks, isa: isa, rows: 1..<n)
                for token in 0..<t {
                    let row = token * n
                    #expect(Array(shifted[(row + 1)..<(row + n)]) == Array(all[(row + 1)..<(row + n)]),
                            "\(dtype) isa \(isa) token \(token): rows 1..<\(n) differ from the full range")
                    let alone = Self.run(Matrix(rows: 1, cols: k, data: x.row(token)), blocks, isa: isa, rows: 0..<n)
                    #expect(alone == Array(all[row..<(row + n)]), "\(dtype) isa \(isa) token \(token) of \(t): alone differs")
                }
            }
        }
    }

    /// A token's result does not depend on its position in the batch: the batch reversed gives the same
    /// rows reversed (the token moves between tile columns and edge tiles).
    @Test func tokenPositionInTheBatchDoesNotMatter() {
        let t = 11, k = 128, n = 23
        for dtype in QuantKernelParityTests.formats {
            var seed: UInt64 = 2024 &+ UInt64(dtype.rawValue)
            let blocks = QuantKernelParityTests.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = QuantKernelParityTests.activations(t, k, seed: &seed)
            let reversed = Matrix(rows: t, cols: k, data: (0..<t).reversed().flatMap { x.row($0) })
            for isa in QuantKernelParityTests.variants {
                let forward = QuantKernels.matmul(x, blocks, isa: isa), backward = QuantKernels.matmul(reversed, blocks, isa: isa)
                for token in 0..<t {
                    #expect(forward.row(token) == backward.row(t - 1 - token), "\(dtype) isa \(isa) token \(token)")
                }
            }
        }
    }
}
