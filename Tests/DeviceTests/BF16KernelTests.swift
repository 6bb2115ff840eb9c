import CKernels
import Foundation
import Testing
@testable import Device

/// `--quantization bf16`: rounding to bf16, the bf16 matmul (every ISA variant this CPU runs) against the
/// fp32 reference on the same bf16-valued weight, batch invariance, and the device's upload path.
@Suite struct BF16KernelTests {
    static var variants: [Int32] {
        let f = CPUFeatures.detect()
        return [Int32(CK_ISA_PORTABLE)] + (f.avx2 && f.fma ? [Int32(CK_ISA_AVX2)] : [])
    }

    static func next(_ seed: inout UInt64) -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: seed >> 11) % 1_000_000) / 1_000_000   // (−1, 1)
    }

    static func random(_ count: Int, seed: inout UInt64) -> [Float] { (0..<count).map { _ in next(&seed) } }

    /// Nearest bf16 by value (ties to the even bit pattern), chosen between the two neighbours in Double —
    /// an independent statement of what `ck_f32_to_bf16` computes with integer arithmetic.
    static func nearestBF16(_ v: Float) -> UInt16 {
        let down = UInt16(v.bitPattern >> 16), up = down &+ 1
        let x = Double(v), a = Double(Dequantize.bf16ToFloat(down)), b = Double(Dequantize.bf16ToFloat(up))
        if abs(x - a) != abs(x - b) { return abs(x - a) < abs(x - b) ? down : up }
        return down & 1 == 0 ? down : up
    }

    static func bf16(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        ck_f32_to_bf16(values, values.count, &out)
        return out
    }

    @Test func roundsToNearestEven() {
        var seed: UInt64 = 3
        // Random magnitudes 2⁻¹³⁶…2¹¹⁶ (incl. subnormals), plus exact ties and exact bf16 values.
        var values = (0..<20_000).map { _ in Self.next(&seed) * Float(sign: .plus, exponent: Int(Self.next(&seed) * 126) - 10, significand: 1) }
        values += [Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0xBF80_8001),
                   Float(bitPattern: 0x0000_8000), Float(bitPattern: 0x0001_8000), 1, -2, 0, -0.0, .leastNonzeroMagnitude]
        let got = Self.bf16(values)
        for (v, g) in zip(values, got) { #expect(g == Self.nearestBF16(v), "\(v) (\(String(v.bitPattern, radix: 16))) → \(String(g, radix: 16))") }
        // bf16 values come back bit-exact; specials stay what they are.
        let exact = got.map(Dequantize.bf16ToFloat)
        #expect(Self.bf16(exact) == got)
        let special = Self.bf16([.infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001), .greatestFiniteMagnitude])
        #expect(special[0] == 0x7F80 && special[1] == 0xFF80)
        #expect(Dequantize.bf16ToFloat(special[2]).isNaN && Dequantize.bf16ToFloat(special[3]).isNaN)
        #expect(special[4] == 0x7F80, "fp32 max is above bf16 max + half an ulp: rounds to infinity")
    }

    static func weight(rows: Int, cols: Int, seed: inout UInt64) -> QuantisedBlocks {
        QuantisedBlocks(bf16Rounding: random(rows * cols, seed: &seed), rows: rows, cols: cols)
    }

    /// |fast − reference| ≤ 2(k + 32)·ε·Σ|x·w| per output: both sums are exact products added in some order,
    /// so they differ only by summation rounding (a wrong or missing element breaks it by far).
    static func checkParity(_ fast: Matrix, _ ref: Matrix, x: Matrix, w: [Float], label: String) {
        let k = x.cols, n = ref.cols
        #expect(fast.rows == ref.rows && fast.cols == n, "\(label): shape")
        for t in 0..<x.rows {
            for r in 0..<n {
                var mag: Float = 0
                for j in 0..<k { mag += abs(x.data[t * k + j] * w[r * k + j]) }
                let bound = 2 * Float(k + 32) * Float.ulpOfOne * mag + 1e-30
                let err = abs(fast.data[t * n + r] - ref.data[t * n + r])
                if err > bound { Issue.record("\(label) (\(t), \(r)): \(fast.data[t * n + r]) vs \(ref.data[t * n + r]), bound \(bound)"); return }
            }
        }
    }

    // k: below one 8-lane vector, not a multiple of 8 / 16 / 32, exact multiples; 1 token to many.
    @Test(arguments: [(1, 1, 1), (1, 7, 3), (2, 33, 65), (1, 576, 131), (3, 95, 17), (4, 40, 70), (7, 608, 65),
                      (16, 1537, 9), (130, 64, 5), (11, 257, 33)])
    func matmulMatchesReference(t: Int, k: Int, n: Int) {
        var seed = UInt64(t * 7919 + k * 31 + n)
        let w = Self.weight(rows: n, cols: k, seed: &seed)
        let x = Matrix(rows: t, cols: k, data: Self.random(t * k, seed: &seed))
        let values = w.dequantised()
        let ref = ReferenceKernels.matmul(x, DeviceWeight(shape: [n, k], sourceType: .bf16, values: values))
        var results: [Matrix] = []
        for isa in Self.variants {
            let fast = BF16Kernels.matmul(x, w, isa: isa)
            Self.checkParity(fast, ref, x: x, w: values, label: "isa \(isa) [\(t), \(k)]·[\(n), \(k)]ᵀ")
            results.append(fast)
        }
        if results.count == 2 { Self.checkParity(results[1], results[0], x: x, w: values, label: "AVX2 vs portable [\(t), \(k)]") }
    }

    /// A (row, token) result is bit-identical whatever the number of tokens in the call. The AVX2 kernel
    /// tiles tokens by 3 in blocks of 32 and rows in panels of ≤ 128 KiB (16 rows at k = 4099), so calls of
    /// 1…7, 33 and 70 tokens cover every tile, remainder, block and panel edge.
    @Test(arguments: [8, 37, 64, 203, 4099])
    func rowsDoNotDependOnBatch(k: Int) {
        var seed = UInt64(k)
        let w = Self.weight(rows: 70, cols: k, seed: &seed)
        let x = Matrix(rows: 70, cols: k, data: Self.random(70 * k, seed: &seed))
        for isa in Self.variants {
            let all = BF16Kernels.matmul(x, w, isa: isa)
            // Row ranges starting at an odd row pair the rows differently (the AVX2 kernel takes rows by two).
            var shifted = [Float](repeating: 0, count: 70 * 70)
            w.bytes.withUnsafeBytes { wp in
                let wb = wp.bindMemory(to: UInt16.self).baseAddress!
                ck_matmul_bf16(isa, wb, 0, 1, x.data, 70, k, &shifted, 70)
                ck_matmul_bf16(isa, wb, 1, 70, x.data, 70, k, &shifted, 70)
            }
            #expect(shifted == all.data, "isa \(isa) k \(k): rows 1..<70 paired from an odd start")
            for tokens in [1, 2, 3, 4, 5, 7, 33] {
                for start in stride(from: 0, to: 70 - tokens + 1, by: tokens) {
                    let part = BF16Kernels.matmul(Matrix(rows: tokens, cols: k, data: Array(x.data[(start * k)..<((start + tokens) * k)])), w, isa: isa)
                    for i in 0..<tokens where part.row(i) != all.row(start + i) {
                        Issue.record("isa \(isa) k \(k): token \(start + i) in a call of \(tokens) differs from the call of 70")
                    }
                }
            }
        }
    }

    @Test func deviceStoresMatricesAsBF16() throws {
        var seed: UInt64 = 17
        let values = Self.random(40 * 24, seed: &seed)
        let half = values.map { Float16($0) }
        let bf16Bits = Self.bf16(values)
        let device = CPUDevice(quantisation: .bf16)
        func upload(_ dtype: DType, _ shape: [Int], _ bytes: UnsafeRawBufferPointer) throws -> DeviceWeight {
            try device.upload(HostTensor(name: "w", dtype: dtype, shape: shape, bytes: bytes, owner: nil))
        }
        let fromF32 = try values.withUnsafeBytes { try upload(.f32, [40, 24], $0) }
        let fromF16 = try half.withUnsafeBytes { try upload(.f16, [40, 24], $0) }
        let fromBF16 = try bf16Bits.withUnsafeBytes { try upload(.bf16, [40, 24], $0) }
        let vector = try values.withUnsafeBytes { try upload(.f32, [24], UnsafeRawBufferPointer(rebasing: $0[0..<96])) }
        #expect(fromF32.blocks?.dtype == .bf16 && fromF32.residentBytes == 2 * 40 * 24)
        #expect(fromF32.blocks?.bytes.withUnsafeBytes { Array($0) } == bf16Bits.withUnsafeBytes { Array($0) }, "fp32 → bf16 rounds to nearest even")
        #expect(fromF16.blocks?.bytes.withUnsafeBytes { Array($0) } == Self.bf16(half.map(Float.init)).withUnsafeBytes { Array($0) })
        #expect(fromBF16.blocks?.bytes.withUnsafeBytes { Array($0) } == bf16Bits.withUnsafeBytes { Array($0) }, "bf16 stays bit-exact")
        #expect(vector.blocks == nil && vector.values == Array(values[0..<24]), "vectors (norms) stay fp32")
        #expect(device.uploadedWeightBytes == 3 * 2 * 40 * 24 + 4 * 24)
        // The device multiplies with the bf16 kernel and reads rows (embeddings) from the bf16 values.
        let x = Matrix(rows: 3, cols: 24, data: Self.random(72, seed: &seed))
        #expect(device.matmul(x, fromF32) == BF16Kernels.matmul(x, fromF32.blocks!, isa: Self.variants.last!))
        var row = [Float](repeating: 0, count: 24)
        row.withUnsafeMutableBufferPointer { fromBF16.copyRow(5, into: $0) }
        #expect(row == bf16Bits[(5 * 24)..<(6 * 24)].map(Dequantize.bf16ToFloat))
    }

    @Test func settingNamesListEveryTarget() {
        #expect(QuantisedBlocks.quantisationTarget(named: "bf16") == .bf16)
        #expect(QuantisedBlocks.quantisationTarget(named: "bf17") == nil)
        #expect(QuantisedBlocks.quantisationSettingNames == "none, q8_0, q4_0 or bf16")
    }
}
