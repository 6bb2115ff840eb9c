import CKernels
import Testing
@testable import Device

/// Weights in 8-row tiles (CKernels/QuantTiles.c): every tile kernel (portable, AVX2, AVX-512 VNNI) gives
/// the bits of the tiles' reduction — written out again here from the GGUF blocks, in Swift — for every
/// (row, token), whatever the row range, token count or tile padding; the result stays within the
/// activation-rounding bound; and the CPU device keeps tiles exactly where a pass multiplies int8 activations.
@Suite struct QuantTileTests {
    typealias P = QuantKernelParityTests

    /// The tile kernels this CPU runs: the portable loops always, AVX2 and AVX-512 VNNI where present.
    static var tileISAs: [Int32] {
        let f = CPUFeatures.detect()
        var isas = [Int32(CK_ISA_PORTABLE)]
        let machine = QuantKernels.isa(for: f)
        if machine >= Int32(CK_ISA_AVX2) { isas.append(Int32(CK_ISA_AVX2)) }
        if machine >= Int32(CK_ISA_AVX512) { isas.append(Int32(CK_ISA_AVX512)) }
        return isas
    }

    static func tiles(_ blocks: QuantisedBlocks) -> [UInt8] {
        let code = Int32(blocks.dtype.rawValue)
        var out = [UInt8](repeating: 0xEE, count: ck_tile_bytes(code, blocks.rows, blocks.cols))
        blocks.bytes.withUnsafeBufferPointer { ck_tile_weights(code, $0.baseAddress!, blocks.rowBytes, blocks.rows, blocks.cols, &out) }
        return out
    }

    /// The tiles' reduction from the GGUF bytes, independently of the C code: per block in order, the exact
    /// integer sum of its 32 products, one FMA by d_w·d_x into the row's accumulator; the Q4 minimum terms
    /// (m_w·s_x, Q4_0: m_w = −8·d_w) summed apart, each product rounded; y = acc + that sum.
    static func reference(_ x: Matrix, _ blocks: QuantisedBlocks) -> [Float] {
        let (k, n, nb, bb) = (x.cols, blocks.rows, x.cols / 32, blocks.dtype.blockBytes)
        let a = BlockActivations(x, int8: true, isa: Int32(CK_ISA_PORTABLE))
        let bytes = blocks.bytes.withUnsafeBufferPointer { [UInt8]($0) }
        func half(_ i: Int) -> Float { Float(Float16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)) }
        var y = [Float](repeating: 0, count: x.rows * n)
        for t in 0..<x.rows {
            for r in 0..<n {
                var acc: Float = 0, off: Float = 0
                for b in 0..<nb {
                    let blk = r * blocks.rowBytes + b * bb
                    var isum = 0
                    for j in 0..<32 {
                        let w: Int
                        switch blocks.dtype {
                        case .q8_0: w = Int(Int8(bitPattern: bytes[blk + 2 + j]))
                        default:
                            let q = bytes[blk + (blocks.dtype == .q4_1 ? 4 : 2) + j % 16]
                            w = Int(j < 16 ? q & 15 : q >> 4)
                        }
                        isum += w * Int(a.q[t * k + 32 * b + j])
                    }
                    let dw = half(blk)
                    acc = acc.addingProduct(Float(isum), dw * a.d[t * nb + b])
                    if blocks.dtype != .q8_0 {
                        let mw = blocks.dtype == .q4_1 ? half(blk + 2) : -8 * dw
                        off += mw * a.s[t * nb + b]
                    }
                }
                y[t * n + r] = blocks.dtype == .q8_0 ? acc : acc + off
            }
        }
        return y
    }

    /// y for rows `rows` of every token from the tiles; elements outside the range stay NaN. Without
    /// `corrections` the kernel computes the Q8_0 block corrections itself.
    static func tiled(_ x: Matrix, _ blocks: QuantisedBlocks, _ tiles: [UInt8], isa: Int32, rows: Range<Int>,
                      corrections: Bool = true) -> [Float] {
        let a = BlockActivations(x, int8: true, isa: Int32(CK_ISA_PORTABLE), corrections: corrections)
        var y = [Float](repeating: .nan, count: x.rows * blocks.rows)
        a.withPointers { p in
            ck_matmul_q8_tiled(isa, Int32(blocks.dtype.rawValue), tiles, rows.lowerBound, rows.upperBound, p.q, p.d, p.s,
                               p.hasCorrections ? p.c : nil, x.rows, x.cols, &y, blocks.rows)
        }
        return y
    }

    // Row counts below, at and past a tile (1, 8, 13, 37), decode and batch token counts, one block to many;
    // from 8 tokens on, VNNI runs pairs of tiles in 512-bit vectors (24, 33, 40 rows: pairs and a lone tile).
    @Test(arguments: [(1, 32, 1), (1, 576, 37), (2, 96, 8), (3, 64, 13), (5, 608, 16), (16, 1536, 9), (17, 320, 24),
                      (8, 64, 40), (12, 96, 33)])
    func tilesGiveTheReferenceBits(t: Int, k: Int, n: Int) {
        for dtype in P.formats {
            var seed = UInt64(t * 31 + k * 5 + n) &+ UInt64(dtype.rawValue)
            let blocks = P.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = P.activations(t, k, seed: &seed)
            let expected = Self.reference(x, blocks)
            let tiles = Self.tiles(blocks)
            for isa in Self.tileISAs {
                let y = Self.tiled(x, blocks, tiles, isa: isa, rows: 0..<n)
                #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "\(dtype) isa \(isa) [\(t), \(k)]·[\(n), \(k)]ᵀ")
            }
        }
    }

    /// Ranges that start and end inside tiles write exactly their rows, with the same bits.
    @Test func rangesCutThroughTiles() {
        for dtype in P.formats {
            var seed: UInt64 = 5 &+ UInt64(dtype.rawValue)
            let blocks = P.randomBlocks(dtype, rows: 29, cols: 128, seed: &seed)
            let x = P.activations(9, 128, seed: &seed)   // 9 tokens: VNNI's pairs of tiles where a range holds two
            let expected = Self.reference(x, blocks)
            let tiles = Self.tiles(blocks)
            for isa in Self.tileISAs {
                for range in [3..<5, 7..<9, 5..<21, 16..<29, 28..<29, 0..<8, 8..<29, 0..<24, 1..<29] {
                    let y = Self.tiled(x, blocks, tiles, isa: isa, rows: range, corrections: false)
                    for tok in 0..<9 {
                        for r in 0..<29 {
                            let (got, want) = (y[tok * 29 + r], expected[tok * 29 + r])
                            if range.contains(r) {
                                #expect(got.bitPattern == want.bitPattern, "\(dtype) isa \(isa) \(range) token \(tok) row \(r)")
                            } else {
                                #expect(got.isNaN, "\(dtype) isa \(isa) \(range) wrote row \(r)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Extremes of the integer products: Q8_0 weights of −128 and 127 against activations of ±127 (each
    /// block's maximum is 127 after quantisation), and Q4 nibbles of 0 and 15.
    @Test func extremeBytesStayExact() {
        for dtype in P.formats {
            var seed: UInt64 = 9 &+ UInt64(dtype.rawValue)
            let random = P.randomBlocks(dtype, rows: 16, cols: 64, seed: &seed)
            var bytes = random.bytes.withUnsafeBufferPointer { [UInt8]($0) }
            let (bb, qoff) = (dtype.blockBytes, dtype == .q4_1 ? 4 : 2)
            for b in stride(from: 0, to: bytes.count, by: bb) {
                let row = b / random.rowBytes
                for j in qoff..<bb { bytes[b + j] = dtype == .q8_0 ? (row % 2 == 0 ? 0x80 : 0x7F) : (row % 2 == 0 ? 0x00 : 0xFF) }
            }
            let blocks = bytes.withUnsafeBytes { QuantisedBlocks(dtype: dtype, rows: 16, cols: 64, source: $0) }
            let x = Matrix(rows: 9, cols: 64, data: (0..<576).map { $0 % 3 == 0 ? -1 : 1 })   // 9: a pair of tiles on VNNI
            let expected = Self.reference(x, blocks)
            for isa in Self.tileISAs {
                #expect(Self.tiled(x, blocks, Self.tiles(blocks), isa: isa, rows: 0..<16).map(\.bitPattern) == expected.map(\.bitPattern),
                        "\(dtype) isa \(isa)")
            }
        }
    }

    /// A token's rows have the same bits alone and in a batch (tokens run in groups of 2–4, and from 8 tokens
    /// on VNNI takes two tiles at a time: neither changes a token's result), and stay within the
    /// activation-rounding bound of the fp32 reference.
    @Test func tokensDoNotDependOnTheBatchAndStayWithinTheRoundingBound() {
        for dtype in P.formats {
            var seed: UInt64 = 31 &+ UInt64(dtype.rawValue)
            let (t, k, n) = (9, 320, 19)
            let blocks = P.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = P.activations(t, k, seed: &seed)
            let tiles = Self.tiles(blocks)
            let weights = DeviceWeight(shape: [n, k], blocks: blocks)
            let (w, ref) = (weights.values, ReferenceKernels.matmul(x, weights).data)
            for isa in Self.tileISAs {
                let all = Self.tiled(x, blocks, tiles, isa: isa, rows: 0..<n)
                for tok in 0..<t {
                    let alone = Self.tiled(Matrix(rows: 1, cols: k, data: x.row(tok)), blocks, tiles, isa: isa, rows: 0..<n)
                    #expect(alone.map(\.bitPattern) == all[(tok * n)..<((tok + 1) * n)].map(\.bitPattern), "\(dtype) isa \(isa) token \(tok)")
                    for r in 0..<n {
                        var bound: Float = 0, magnitude: Float = 0
                        for b in 0..<(k / 32) {
                            let xs = x.data[(tok * k + 32 * b)..<(tok * k + 32 * b + 32)], ws = w[(r * k + 32 * b)..<(r * k + 32 * b + 32)]
                            bound += (xs.map(abs).max() ?? 0) / 127 / 2 * ws.reduce(0) { $0 + abs($1) }
                            magnitude += zip(xs, ws).reduce(0) { $0 + abs($1.0 * $1.1) }
                        }
                        let err = abs(all[tok * n + r] - ref[tok * n + r])
                        #expect(err <= bound * 1.001 + 1e-5 * magnitude, "\(dtype) token \(tok) row \(r): \(err) > \(bound)")
                    }
                }
            }
        }
    }

    /// Tiling loses nothing: every row gathered back from the tiles is the GGUF row, byte for byte.
    @Test func rowsComeBackFromTheTiles() {
        for dtype in P.formats {
            var seed: UInt64 = 41 &+ UInt64(dtype.rawValue)
            let blocks = P.randomBlocks(dtype, rows: 13, cols: 96, seed: &seed)
            let tiles = Self.tiles(blocks)
            let original = blocks.bytes.withUnsafeBufferPointer { [UInt8]($0) }
            for r in 0..<13 {
                var row = [UInt8](repeating: 0, count: blocks.rowBytes)
                ck_untile_row(Int32(dtype.rawValue), tiles, r, 96, &row)
                #expect(row == Array(original[(r * blocks.rowBytes)..<((r + 1) * blocks.rowBytes)]), "\(dtype) row \(r)")
            }
        }
    }

    /// fp32 activations over tiles (ck_matmul_blocks_tiled) give ck_matmul_blocks's bits on the rows, on every
    /// ISA: decode and prompt token counts, ranges that cut tiles, and more rows than one gathered chunk (48).
    @Test func fp32ActivationsOnTilesGiveTheRowBits() {
        for dtype in P.formats {
            var seed: UInt64 = 41 &+ UInt64(dtype.rawValue)
            let (n, k) = (61, 96)
            let blocks = P.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let tiles = Self.tiles(blocks), code = Int32(dtype.rawValue), nb = k / 32
            for t in [1, 3, 5, 70] {
                let x = P.activations(t, k, seed: &seed)
                var sums = [Float](repeating: 0, count: t * nb)
                ck_block_sums(x.data, t * nb, &sums)
                for isa in Self.tileISAs where isa <= Int32(CK_ISA_AVX2) {
                    var rows = [Float](repeating: 0, count: t * n)
                    blocks.bytes.withUnsafeBufferPointer { ck_matmul_blocks(isa, code, $0.baseAddress!, blocks.rowBytes, 0, n, x.data, sums, t, k, &rows, n) }
                    for range in [0..<61, 5..<21, 16..<29, 60..<61, 3..<58] {
                        var y = [Float](repeating: .nan, count: t * n)
                        ck_matmul_blocks_tiled(isa, code, tiles, range.lowerBound, range.upperBound, x.data, sums, t, k, &y, n)
                        for i in 0..<(t * n) {
                            if range.contains(i % n) {
                                #expect(y[i].bitPattern == rows[i].bitPattern, "\(dtype) isa \(isa) \(t) tokens \(range) element \(i)")
                            } else {
                                #expect(y[i].isNaN, "\(dtype) isa \(isa) \(range) wrote row \(i % n)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// How the device holds block weights: any int8 pass (`int8`, `auto`) → tiles in place of the rows (every
    /// format; embedding rows, fp32 values and the rows of fp32 passes come back from the tiles); fp32 → rows.
    /// The resident size counts what is held, and int8 passes multiply with the tiles' reduction (on every
    /// ISA, so int8 results do not depend on the machine).
    @Test(arguments: P.formats)
    func deviceHoldsTilesWhereInt8PassesRun(dtype: DType) throws {
        var seed: UInt64 = 21 &+ UInt64(dtype.rawValue)
        let blocks = P.randomBlocks(dtype, rows: 20, cols: 96, seed: &seed)
        let tensor = blocks.bytes.withUnsafeBytes { HostTensor(name: "w", dtype: dtype, shape: [20, 96], bytes: $0, owner: nil) }
        let (rowBytes, tileBytes) = (blocks.bytes.count, ck_tile_bytes(Int32(dtype.rawValue), 20, 96))
        let x = P.activations(3, 96, seed: &seed)
        let expected = Self.reference(x, blocks)
        #expect(expected == QuantKernels.matmulInt8(x, blocks, isa: Int32(CK_ISA_PORTABLE)).data, "row blocks are tiled for int8")

        let exactDevice = CPUDevice()
        let exact = try exactDevice.upload(tensor)
        #expect(exact.blocks?.tiles == nil && exact.residentBytes == rowBytes)

        let int8 = CPUDevice(activations: .int8)
        let w = try int8.upload(tensor)
        #expect(w.blocks?.rowStorage == nil && w.blocks?.tiles?.count == tileBytes && w.residentBytes == tileBytes)
        #expect(int8.matmul(x, w).data.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(int8.matmuls(x, [w, w]).allSatisfy { $0.data.map(\.bitPattern) == expected.map(\.bitPattern) })
        #expect(w.values == DeviceWeight(shape: [20, 96], blocks: blocks).values, "fp32 values from the tiles")
        var row = [Float](repeating: .nan, count: 96)
        row.withUnsafeMutableBufferPointer { w.copyRow(13, into: $0) }
        #expect(row == Array(DeviceWeight(shape: [20, 96], blocks: blocks).values[(13 * 96)..<(14 * 96)]), "an embedding row from the tiles")

        // `auto` holds the tiles alone too: generated tokens multiply them with int8 activations, prompts with
        // fp32 ones through rows gathered back from them — the exact device's bits.
        let auto = CPUDevice(activations: .float32, generatedActivations: .int8)
        let a = try auto.upload(tensor)
        #expect(a.blocks?.rowStorage == nil && a.blocks?.tiles?.count == tileBytes && a.residentBytes == tileBytes)
        #expect(auto.runningGeneratedTokens { auto.matmul(x, a) }.data.map(\.bitPattern) == expected.map(\.bitPattern))
        let prompt = P.activations(70, 96, seed: &seed)   // the AVX2 kernel's panel path (4+ tokens) and its register path
        for x in [x, prompt, Matrix(rows: 1, cols: 96, data: prompt.row(5))] {
            let fp32 = exactDevice.matmul(x, exact).data.map(\.bitPattern)
            #expect(auto.matmul(x, a).data.map(\.bitPattern) == fp32, "prompts: fp32 activations, rows gathered from the tiles")
            #expect(auto.groupedMatmul(x, [a, a], groupSizes: [x.rows / 2, x.rows - x.rows / 2]).data.map(\.bitPattern) == fp32)
        }
    }
}
