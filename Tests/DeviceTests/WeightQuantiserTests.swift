import CKernels
import Testing
@testable import Device

/// `--quantization q8_0|q4_0` at load: the AVX2 quantiser writes the portable code's bytes, on random
/// rows and on the blocks where rounding or the scale is delicate; what the bytes mean is checked
/// against the formats' definitions (LoadQuantisationTests checks the round trip).
@Suite struct WeightQuantiserTests {
    static let avx2: Int32? = QuantInt8KernelTests.avx2

    /// Random rows (some outliers) followed by hand-made blocks: exact halves at scale 1 (Q8_0: amax 127),
    /// all zeros and −0, a NaN, ±inf, subnormals (1/d overflows), huge magnitudes, a repeated extreme
    /// of both signs (Q4_0 keeps the first).
    static func values() -> [Float] {
        var seed: UInt64 = 5
        var v = QuantKernelParityTests.activations(6, 512, seed: &seed).data
        for i in stride(from: 0, to: v.count, by: 97) { v[i] *= 50 }
        var special = [Float](repeating: 0, count: 32 * 8)
        for j in 0..<32 { special[j] = j == 0 ? -127 : Float(j) - 15.5 }
        for j in 0..<32 { special[32 + j] = -0.0 }
        special[64 + 2] = .nan; special[64 + 5] = 3; special[64 + 6] = -1.5
        special[96 + 1] = .infinity; special[96 + 4] = 2; special[96 + 30] = -.infinity
        for j in 0..<32 { special[128 + j] = Float.leastNonzeroMagnitude * Float(j) }
        for j in 0..<32 { special[160 + j] = Float.greatestFiniteMagnitude / Float(j + 1) * (j % 2 == 0 ? 1 : -1) }
        for j in 0..<32 { special[192 + j] = j == 3 ? -4 : (j == 9 ? 4 : Float(j % 7) / 2 - 1.5) }
        for j in 0..<32 { special[224 + j] = Float(j) * 1e-3 - 0.016 }
        return v + special
    }

    static func quantise(_ x: [Float], _ dtype: DType, isa: Int32) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: x.count / 32 * dtype.blockBytes)
        ck_quantize_blocks(isa, Int32(dtype.rawValue), x, x.count / 32, &out)
        return out
    }

    @Test(arguments: [DType.q8_0, .q4_0])
    func avx2EqualsPortableByteForByte(dtype: DType) throws {
        let isa = try #require(Self.avx2, "this CPU has no AVX2+FMA+F16C; the portable code is the only variant")
        let x = Self.values()
        let portable = Self.quantise(x, dtype, isa: Int32(CK_ISA_PORTABLE)), fast = Self.quantise(x, dtype, isa: isa)
        let bb = dtype.blockBytes
        for b in 0..<(x.count / 32) {
            #expect(fast[(b * bb)..<((b + 1) * bb)] == portable[(b * bb)..<((b + 1) * bb)], "\(dtype) block \(b)")
        }
    }

    /// The special blocks mean what the format says, on every ISA: ties round away from zero, a NaN
    /// weight becomes 0, an all-zero block has scale 0, Q4_0 keeps the first extreme exactly.
    @Test(arguments: [DType.q8_0, .q4_0])
    func specialBlocksFollowTheFormat(dtype: DType) {
        let x = Self.values(), first = x.count / 32 - 8, bb = dtype.blockBytes
        for isa in [Int32(CK_ISA_PORTABLE)] + (Self.avx2.map { [$0] } ?? []) {
            let out = Self.quantise(x, dtype, isa: isa)
            func block(_ i: Int) -> [UInt8] { Array(out[((first + i) * bb)..<((first + i + 1) * bb)]) }
            func scale(_ i: Int) -> Float { Float(Float16(bitPattern: UInt16(block(i)[0]) | UInt16(block(i)[1]) << 8)) }
            if dtype == .q8_0 {
                let q = block(0).dropFirst(2).map { Int8(bitPattern: $0) }
                #expect(scale(0) == 1)
                #expect(q == (0..<32).map { j in Int8((x[first * 32 + j]).rounded(.toNearestOrAwayFromZero)) }, "isa \(isa)")
                #expect(Int8(bitPattern: block(2)[2 + 2]) == 0 && Int8(bitPattern: block(2)[2 + 5]) == 127)
                let inv = 1 / (Float(3) / 127)                      // amax 3 (the NaN is ignored)
                #expect(Int8(bitPattern: block(2)[2 + 6]) == Int8((-1.5 * inv).rounded(.toNearestOrAwayFromZero)))
            } else {
                #expect(scale(6) == 0.5)                            // m = −4 (first of ±4), d = −4 / −8
                #expect(block(6)[2 + 3] & 0x0F == 0)                // −4 / 0.5 + 8 = 0: the extreme is exact
                #expect(block(6)[2 + 9] & 0x0F == 15)               // +4 / 0.5 + 8 = 16 → clamped to 15
                #expect(block(2)[2 + 2] & 0x0F == 8)                // NaN → 0 → 8
            }
            #expect(scale(1) == 0 && block(1).dropFirst(2).allSatisfy { $0 == (dtype == .q8_0 ? 0 : 0x88) })
        }
    }
}
