import CKernels
import Testing
@testable import Device

/// The int8 activations and the int8 matmul (`QuantKernels.matmulInt8`, over the weight's tiles: QuantTiles.c):
/// every ISA variant equals the portable code bit for bit, the result stays within the bound that
/// activation rounding allows, and rows do not depend on the batch.
@Suite struct QuantInt8KernelTests {
    typealias P = QuantKernelParityTests

    static var avx2: Int32? {
        let f = CPUFeatures.detect()
        return f.avx2 && f.fma && f.f16c ? Int32(CK_ISA_AVX2) : nil
    }

    /// The AVX-512 VNNI level where this CPU has it (the tile kernel's VNNI variant).
    static var vnni: Int32? { QuantKernels.isa(for: .detect()) >= Int32(CK_ISA_AVX512) ? Int32(CK_ISA_AVX512) : nil }

    @Test func quantiserRoundsWithinHalfAStep() {
        for isa in P.variants + (Self.avx2.map { [$0] } ?? []) {
            var seed: UInt64 = 3
            let x = P.activations(3, 96, seed: &seed)
            var q = [Int8](repeating: 0, count: 288), d = [Float](repeating: 0, count: 9), s = [Float](repeating: 0, count: 9)
            ck_quantize_q8(isa, x.data, 3, 96, &q, &d, &s)
            for b in 0..<9 {
                let block = x.data[(32 * b)..<(32 * b + 32)], qs = q[(32 * b)..<(32 * b + 32)]
                #expect(d[b] == (block.map(abs).max() ?? 0) / 127)
                #expect(qs.allSatisfy { $0 >= -127 })
                for (v, qv) in zip(block, qs) { #expect(abs(v - Float(qv) * d[b]) <= d[b] * 0.5001) }
                #expect(s[b] == d[b] * Float(qs.reduce(0) { $0 + Int($1) }))
            }
        }
    }

    /// The AVX2 quantiser gives the portable bits on random rows and on the edge cases: exact halves
    /// (round to even), all-zero and −0 blocks, a lone NaN (ignored by the max, quantised to 0), ±inf
    /// (the block's scale is inf, every value quantises to 0), subnormals and huge magnitudes.
    @Test func avx2QuantiserEqualsPortableBitForBit() throws {
        let isa = try #require(Self.avx2, "this CPU has no AVX2+FMA+F16C; the portable code is the only variant")
        var seed: UInt64 = 11
        var rows = P.activations(5, 1536, seed: &seed).data
        var special = [Float](repeating: 0, count: 32 * 8)
        for j in 0..<32 { special[j] = j == 0 ? -127 : Float(j) - 15.5 }              // inv = 1: exact halves
        for j in 0..<32 { special[32 + j] = j == 0 ? 63.5 : Float(j) / 4 - 4 }         // inv = 2: quarters → halves
        for j in 0..<32 { special[64 + j] = -0.0 }
        special[96 + 3] = .nan; special[96 + 7] = 4; special[96 + 8] = -2
        special[128 + 1] = .infinity; special[128 + 2] = -1; special[128 + 9] = -.infinity
        for j in 0..<32 { special[160 + j] = Float.leastNonzeroMagnitude * Float(j) }
        for j in 0..<32 { special[192 + j] = Float.greatestFiniteMagnitude / Float(j + 1) * (j % 2 == 0 ? 1 : -1) }
        for j in 0..<32 { special[224 + j] = Float(j) * 1e-3 }
        rows += special
        func quantise(_ isa: Int32, _ rows: [Float], k: Int) -> ([Int8], [Float], [Float]) {
            var q = [Int8](repeating: 0, count: rows.count), d = [Float](repeating: 0, count: rows.count / 32), s = d
            ck_quantize_q8(isa, rows, rows.count / k, k, &q, &d, &s)
            return (q, d, s)
        }
        // The AVX2 code takes 8 blocks at a time and the rest one by one: the special blocks are one group of
        // 8 in the first layout, and split across a group and the single-block tail in the second (3 random
        // blocks first; one row of 251 blocks).
        for (layout, k) in [(rows, 256), (Array(rows[0..<96]) + rows, rows.count + 96)] {
            let (pq, pd, ps) = quantise(Int32(CK_ISA_PORTABLE), layout, k: k), (fq, fd, fs) = quantise(isa, layout, k: k)
            #expect(fq == pq)
            #expect(fd.map(\.bitPattern) == pd.map(\.bitPattern))
            #expect(fs.map(\.bitPattern) == ps.map(\.bitPattern))
        }
        let (pq, _, _) = quantise(Int32(CK_ISA_PORTABLE), rows, k: 256)
        let tail = rows.count - 256   // the special blocks start here
        for j in 0..<64 {   // both tie blocks: x·inv is exact, so q is x·inv rounded half to even
            let x = special[j], inv: Float = j < 32 ? 1 : 2
            #expect(pq[tail + j] == Int8((x * inv).rounded(.toNearestOrEven)), "element \(j)")
        }
        #expect(pq[tail + 96 + 3] == 0 && pq[tail + 96 + 7] == 127 && pq[tail + 96 + 8] == -64)
        #expect(pq[tail + 128 + 1] == 0 && pq[tail + 128 + 2] == 0 && pq[tail + 160 + 31] == 127)
    }

    // Shapes cover the tile kernel's paths through matmulInt8's split: 1–3 tokens (one tile pass per token or
    // pair), groups of 4 full and partial (4–7, 9, 11, 133 tokens), VNNI's pairs of tiles from 8 tokens on
    // (9, 11, 16, 133, 600 tokens over 9–131 rows), odd row counts, and k from one block to 48.
    @Test(arguments: [(1, 32, 1), (1, 576, 131), (2, 96, 7), (3, 64, 6), (5, 608, 65), (16, 1536, 9), (9, 320, 3), (133, 64, 5),
                      (4, 96, 5), (7, 128, 3), (11, 1536, 23), (600, 1536, 3)])
    func avx2EqualsPortableBitForBit(t: Int, k: Int, n: Int) throws {
        let isa = try #require(Self.avx2, "this CPU has no AVX2+FMA+F16C; the portable code is the only variant")
        for dtype in P.formats {
            var seed = UInt64(t * 131 + k * 7 + n) &+ UInt64(dtype.rawValue)
            let blocks = P.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = P.activations(t, k, seed: &seed)
            let portable = QuantKernels.matmulInt8(x, blocks, isa: Int32(CK_ISA_PORTABLE))
            let fast = QuantKernels.matmulInt8(x, blocks, isa: isa)
            #expect(fast.data == portable.data, "\(dtype) [\(t), \(k)]·[\(n), \(k)]ᵀ")
            if let vnni = Self.vnni {
                #expect(QuantKernels.matmulInt8(x, blocks, isa: vnni).data == portable.data, "VNNI \(dtype) [\(t), \(k)]·[\(n), \(k)]ᵀ")
            }
        }
    }

    /// |y − y_ref| ≤ Σ_blocks (step/2)·Σ|w| per (row, token): the rounding of the activations, no more.
    @Test(arguments: [(1, 576, 40), (4, 1536, 12), (7, 96, 33)])
    func errorStaysWithinTheActivationRoundingBound(t: Int, k: Int, n: Int) {
        for dtype in P.formats {
            var seed = UInt64(t + k + n * 3) &+ UInt64(dtype.rawValue)
            let blocks = P.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = P.activations(t, k, seed: &seed)
            let w = DeviceWeight(shape: [n, k], blocks: blocks).values
            let ref = ReferenceKernels.matmul(x, DeviceWeight(shape: [n, k], blocks: blocks))
            let y = QuantKernels.matmulInt8(x, blocks, isa: QuantKernels.isa(for: .detect()))
            for tok in 0..<t {
                for r in 0..<n {
                    var bound: Float = 0, magnitude: Float = 0
                    for b in 0..<(k / 32) {
                        let xs = x.data[(tok * k + 32 * b)..<(tok * k + 32 * b + 32)]
                        let ws = w[(r * k + 32 * b)..<(r * k + 32 * b + 32)]
                        let step = (xs.map(abs).max() ?? 0) / 127
                        bound += step / 2 * ws.reduce(0) { $0 + abs($1) }
                        magnitude += zip(xs, ws).reduce(0) { $0 + abs($1.0 * $1.1) }
                    }
                    let err = abs(y.data[tok * n + r] - ref.data[tok * n + r])
                    #expect(err <= bound * 1.001 + 1e-5 * magnitude, "\(dtype) token \(tok) row \(r): \(err) > \(bound)")
                }
            }
        }
    }

    /// 133 tokens cross the fp32 kernel's 64-token blocks and leave a partial 4-token tile there and a partial
    /// group of tokens in the int8 tile kernel.
    @Test(arguments: [6, 133])
    func rowsDoNotDependOnBatch(tokens: Int) {
        for dtype in P.formats {
            var seed: UInt64 = 77
            let blocks = P.randomBlocks(dtype, rows: 70, cols: 320, seed: &seed)
            let x = P.activations(tokens, 320, seed: &seed)
            for isa in P.variants + (Self.avx2.map { [$0] } ?? []) {
                let all = QuantKernels.matmulInt8(x, blocks, isa: isa)
                let fp32 = QuantKernels.matmul(x, blocks, isa: isa)
                for r in 0..<tokens {
                    let alone = QuantKernels.matmul(Matrix(rows: 1, cols: 320, data: x.row(r)), blocks, isa: isa)
                    #expect(alone.data == fp32.row(r), "f32 activations \(dtype) isa \(isa) row \(r)")
                    let one = QuantKernels.matmulInt8(Matrix(rows: 1, cols: 320, data: x.row(r)), blocks, isa: isa)
                    #expect(one.data == all.row(r), "\(dtype) isa \(isa) row \(r)")
                }
            }
        }
    }

    @Test func deviceUsesInt8ActivationsOnlyWhenAsked() throws {
        var seed: UInt64 = 11
        let blocks = P.randomBlocks(.q4_0, rows: 8, cols: 64, seed: &seed)
        let tensor = blocks.bytes.withUnsafeBytes { HostTensor(name: "w", dtype: .q4_0, shape: [8, 64], bytes: $0, owner: nil) }
        let exact = CPUDevice(), fast = CPUDevice(activations: .int8)
        let x = P.activations(2, 64, seed: &seed)
        let isa = QuantKernels.isa(for: .detect())
        // The int8 device keeps the Q4 weight in tiles too, and multiplies those (QuantTileTests).
        #expect(fast.matmul(x, try fast.upload(tensor)).data == QuantTileTests.reference(x, blocks))
        #expect(exact.matmul(x, try exact.upload(tensor)).data == QuantKernels.matmul(x, blocks, isa: isa).data)
    }

    /// `auto` serving: fp32 activations, int8 inside `runningGeneratedTokens` only — through every path that
    /// picks the precision (matmul, the fused matmuls, grouped expert matmuls), and back to fp32 after it.
    @Test func generatedTokensTakeInt8ActivationsOnlyInTheirOwnPass() throws {
        var seed: UInt64 = 12
        let blocks = (0..<3).map { _ in P.randomBlocks(.q4_1, rows: 8, cols: 64, seed: &seed) }
        let tensors = blocks.map { b in b.bytes.withUnsafeBytes { HostTensor(name: "w", dtype: .q4_1, shape: [8, 64], bytes: $0, owner: nil) } }
        let auto = CPUDevice(activations: .float32, generatedActivations: .int8)
        let exact = CPUDevice(), fast = CPUDevice(activations: .int8)
        #expect(auto.separatesGeneratedTokens && !exact.separatesGeneratedTokens && !fast.separatesGeneratedTokens)
        let (wa, we, wf) = (try tensors.map(auto.upload), try tensors.map(exact.upload), try tensors.map(fast.upload))
        let x = P.activations(5, 64, seed: &seed)
        func all(_ d: CPUDevice, _ w: [DeviceWeight]) -> [[Float]] {
            [d.matmul(x, w[0]).data] + d.matmuls(x, w).map(\.data) + d.groupedMatmuls(x, [w], groupSizes: [2, 0, 3]).map(\.data)
        }
        let (exactOut, fastOut) = (all(exact, we), all(fast, wf))
        #expect(exactOut != fastOut)
        #expect(all(auto, wa) == exactOut)
        #expect(auto.runningGeneratedTokens { all(auto, wa) } == fastOut)
        #expect(all(auto, wa) == exactOut, "the precision goes back to fp32 after the pass")
    }
}
