import CKernels
import Foundation
import Testing
@testable import Device

/// fp16 and bf16 KV caches (`KVElement`, `--kv-cache-dtype`): a store rounds each value to nearest even
/// (fp16 saturating at ±65,504) with the same bits on every ISA, a load widens exactly, and every attention
/// kernel over a narrow cache gives bit for bit what the fp32 kernel gives over the widened values, so the
/// narrow cache changes nothing but the one rounding of what is written.
@Suite struct KVCacheElementTests {
    typealias P = QuantKernelParityTests
    static let narrow: [KVElement] = [.f16, .bf16]

    /// `x` stored as `element` (its 16-bit words) and those words widened back to fp32.
    static func rounded(_ x: [Float], _ element: KVElement, isa: Int32 = Int32(CK_ISA_PORTABLE)) -> (stored: [UInt16], widened: [Float]) {
        var stored = [UInt16](repeating: 0, count: x.count)
        var widened = [Float](repeating: 0, count: x.count)
        ck_kv_store(isa, element.code, x, x.count, &stored)
        ck_kv_load(element.code, stored, x.count, &widened)
        return (stored, widened)
    }

    /// Every finite value of a 16-bit format with its bit pattern, ascending (-0 and +0 both kept), as Doubles
    /// decoded from the bits by the format's definition (no conversion routine under test).
    static func finiteValues(_ element: KVElement) -> [(value: Double, bits: UInt16)] {
        let (expBits, manBits, bias) = element == .f16 ? (5, 10, 15) : (8, 7, 127)
        var out: [(Double, UInt16)] = []
        for b in 0...UInt16.max {
            let e = Int(b >> manBits) & ((1 << expBits) - 1), m = Int(b) & ((1 << manBits) - 1)
            guard e != (1 << expBits) - 1 else { continue }   // inf, NaN
            let magnitude = e == 0 ? Double(m) * pow(2, Double(1 - bias - manBits))
                                   : (1 + Double(m) / Double(1 << manBits)) * pow(2, Double(e - bias))
            out.append((b & 0x8000 != 0 ? -magnitude : magnitude, b))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The format value nearest to x (ties to the even pattern); ±∞ past the largest finite value's half-ulp,
    /// as IEEE rounding gives (bf16 only: fp16 callers saturate first).
    static func nearest(_ x: Float, in table: [(value: Double, bits: UInt16)]) -> Float {
        let v = Double(x)
        if x.isInfinite { return x }
        if x == 0 { return x }   // ±0 keep their sign
        var lo = 0, hi = table.count - 1
        while hi - lo > 1 { let mid = (lo + hi) / 2; if table[mid].value <= v { lo = mid } else { hi = mid } }
        let top = table[table.count - 1].value, ulp = top - table[table.count - 2].value
        if abs(v) >= top + ulp / 2 { return v > 0 ? .infinity : -.infinity }   // rounds past the largest finite value
        let (a, b) = (table[lo], table[hi])
        let pick: (value: Double, bits: UInt16)
        if v <= a.value { pick = a } else if v >= b.value { pick = b }
        else if v - a.value < b.value - v { pick = a } else if b.value - v < v - a.value { pick = b }
        else { pick = a.bits & 1 == 0 ? a : b }
        return Float(pick.value) == 0 ? (x < 0 ? -0.0 : 0) : Float(pick.value)
    }

    /// Ties in both formats, fp16 subnormals and its limits, fp32 extremes, infinities, NaN, signed zero.
    static let edges: [Float] = [
        0, -0.0, 1, -1, 1 + 0x1p-11, 1 + 3 * 0x1p-11, 1 + 0x1p-8, 1 + 3 * 0x1p-8, -(1 + 0x1p-8), 0.1, -2.5e-3,
        0x1p-24, 0x1p-25, 1.5 * 0x1p-25, 0x1p-15, 6.1e-5, 1e-10, Float.leastNonzeroMagnitude, Float.leastNormalMagnitude,
        65504, 65505, 65519.99, 65520, -65520, 1e6, -1e30, Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude,
        .infinity, -.infinity, .nan, -.nan, 3.3895314e38,
    ]

    /// Random values over many binades (2⁻³⁰…2²⁰, both signs), the edges among them, a count off the
    /// 8-element vector so the tail loop runs too.
    static func values(seed: UInt64) -> [Float] {
        var seed = seed
        var x = (0..<1_003).map { _ -> Float in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let mantissa = Float(seed >> 40) / Float(1 << 24) + 1
            let exponent = Int((seed >> 20) % 51) - 30
            return (seed & 1 == 0 ? 1 : -1) * mantissa * Float(sign: .plus, exponent: exponent, significand: 1)
        }
        for (i, e) in edges.enumerated() { x[i * 29 % x.count] = e }
        return x + edges
    }

    @Test(arguments: narrow)
    func storesRoundToNearestEvenWithTheSameBitsOnEveryISA(element: KVElement) {
        let x = Self.values(seed: 7)
        let portable = Self.rounded(x, element).stored
        for isa in P.variants {
            #expect(Self.rounded(x, element, isa: isa).stored == portable, "isa \(isa)")
        }
        // What the format says, from the format alone: the nearest of its values (ties to the even bit pattern),
        // fp16 saturated first, found by search over every finite value of the format.
        let table = Self.finiteValues(element)
        for (i, v) in x.enumerated() {
            let widened = Self.rounded([v], element).widened[0]
            if v.isNaN { #expect(widened.isNaN, "NaN \(i) did not stay NaN"); continue }
            let expected = Self.nearest(element == .f16 ? min(max(v, -65504), 65504) : v, in: table)
            #expect(widened.bitPattern == expected.bitPattern, "\(element) \(v) stored as \(widened), expected \(expected)")
        }
        if element == .f16 {
            #expect(Self.rounded([1e6, -.infinity, 65520], element).widened == [65504, -65504, 65504])
        } else {
            #expect(Self.rounded([1 + 0x1p-8, 1 + 3 * 0x1p-8, .greatestFiniteMagnitude], element).widened == [1, 1 + 0x1p-6, .infinity])
        }
    }

    @Test func loadsWidenEveryBitPatternExactly() {
        let all = (0...UInt16.max).map { $0 }
        var f16 = [Float](repeating: 0, count: all.count), bf16 = f16
        ck_kv_load(KVElement.f16.code, all, all.count, &f16)
        ck_kv_load(KVElement.bf16.code, all, all.count, &bf16)
        for h in all {
            let a = Float(Float16(bitPattern: h)), b = Float(bitPattern: UInt32(h) << 16)
            #expect(f16[Int(h)].isNaN ? a.isNaN : f16[Int(h)].bitPattern == a.bitPattern, "fp16 \(h)")
            #expect(bf16[Int(h)].isNaN ? b.isNaN : bf16[Int(h)].bitPattern == b.bitPattern, "bf16 \(h)")
        }
        // fp32 is a copy, bit for bit.
        let x = Self.values(seed: 3)
        var copy = [Float](repeating: 0, count: x.count), stored = copy
        ck_kv_store(Int32(CK_ISA_PORTABLE), KVElement.f32.code, x, x.count, &stored)
        ck_kv_load(KVElement.f32.code, stored, x.count, &copy)
        #expect(zip(copy, x).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    /// The kernels read keys [positions, kstride] and values [positions, vstride]; each call runs once on the
    /// narrow buffers and once (fp32) on the widened ones.
    struct Buffers {
        let dk, dv, kstride, vstride, positions: Int
        let keys, values: (stored: [UInt16], widened: [Float])
        let slots: [Int64]?

        init(element: KVElement, dk: Int, dv: Int, positions: Int, paged: Bool, seed: UInt64) {
            var seed = seed
            (self.dk, self.dv, kstride, vstride, self.positions) = (dk, dv, dk + 3, dv + 5, positions + 9)
            // Moderate keys and queries (see q below), so the softmax spreads its weight over many positions and a
            // wrong key or value anywhere shows (saturation is the store test's business).
            let k = CPUKernelParityTests.random(self.positions * kstride, seed: &seed).map { $0 * 2 }
            let v = CPUKernelParityTests.random(self.positions * vstride, seed: &seed).map { $0 * 4 }
            keys = KVCacheElementTests.rounded(k, element)
            values = KVCacheElementTests.rounded(v, element)
            slots = paged ? (0..<positions).map { Int64(($0 * 7 + 3) % (positions + 9)) } : nil
        }
    }

    /// Runs `kernel` over the narrow buffers (kv = element) and the widened ones (kv = f32): the two outputs.
    static func both(_ b: Buffers, element: KVElement, outputs: Int,
                     _ kernel: (Int32, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) -> ([Float], [Float]) {
        var narrow = [Float](repeating: 0, count: outputs), wide = narrow
        b.keys.stored.withUnsafeBytes { k in
            b.values.stored.withUnsafeBytes { v in narrow.withUnsafeMutableBufferPointer { kernel(element.code, k.baseAddress!, v.baseAddress!, $0.baseAddress!) } }
        }
        b.keys.widened.withUnsafeBytes { k in
            b.values.widened.withUnsafeBytes { v in wide.withUnsafeMutableBufferPointer { kernel(Int32(CK_KV_F32), k.baseAddress!, v.baseAddress!, $0.baseAddress!) } }
        }
        return (narrow, wide)
    }

    /// ck_attend_kv, ck_attend_group, the split phases and ck_attend_block (decode and prompt rows), each
    /// over fp16/bf16 keys and values, equal the fp32 kernel over the widened values bit for bit, on every
    /// ISA: head dims with and without 8- and 16-element tails, MLA's shape, paged and contiguous.
    @Test(arguments: [(64, 64), (7, 13), (72, 40), (288, 256), (16, 8), (1_030, 24)])   // the last: keys too wide to widen per block
    func kernelsOverNarrowValuesEqualFP32OverTheWidenedValues(dk: Int, dv: Int) {
        for element in Self.narrow {
            for isa in AttentionGroupTests.variants {
                for (visible, paged) in [(1, true), (9, false), (40, true), (300, true)] {
                    let tag = "\(element) isa \(isa) dk \(dk) dv \(dv) visible \(visible) paged \(paged)"
                    let b = Buffers(element: element, dk: dk, dv: dv, positions: visible + 4, paged: paged, seed: UInt64(dk * 31 + dv + visible))
                    var seed = UInt64(visible + dk)
                    let rows = 5, qstride = dk + 2, ostride = dv + 1
                    let q = CPUKernelParityTests.random(rows * 5 * qstride, seed: &seed).map { $0 * 0.3 }
                    var scores = [Float](repeating: .nan, count: ck_attend_block_scores(5, rows, visible + 4) + 3 * (visible + 8))
                    let sstride = visible + 3
                    let checks: [(String, Int, (Int32, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)] = [
                        ("kv", dv, { kv, k, v, out in
                            ck_attend_kv(isa, kv, q, k, b.kstride, dk, v, b.vstride, dv, b.slots, visible, 0.3, &scores, out)
                        }),
                        ("group", rows * ostride, { kv, k, v, out in
                            ck_attend_group(isa, kv, q, qstride, rows, k, b.kstride, dk, v, b.vstride, dv, b.slots, visible, 0.3, &scores, out, ostride)
                        }),
                        ("split", rows * ostride + rows * sstride, { kv, k, v, out in
                            // The raw scores are compared too: they follow the outputs.
                            let raw = out + rows * ostride
                            raw.update(repeating: 0, count: rows * sstride)
                            let cut = visible / 16 * 8, column = dv / 16 * 8
                            ck_attend_scores(isa, kv, q, qstride, rows, k, b.kstride, dk, b.slots, cut, visible, 0.3, raw, sstride)
                            ck_attend_scores(isa, kv, q, qstride, rows, k, b.kstride, dk, b.slots, 0, cut, 0.3, raw, sstride)
                            ck_attend_values(isa, kv, rows, raw, sstride, visible, v, b.vstride, b.slots, column, dv, &scores, out, ostride)
                            ck_attend_values(isa, kv, rows, raw, sstride, visible, v, b.vstride, b.slots, 0, column, &scores, out, ostride)
                        }),
                        ("block", 5 * rows * ostride, { kv, k, v, out in
                            // 5 tokens of `rows` heads each, the last seeing visible + 4 positions.
                            ck_attend_block(isa, kv, 5, rows, q, rows * qstride, qstride, k, b.kstride, dk, v, b.vstride, dv, b.slots, visible,
                                            0.3, &scores, out, rows * ostride, ostride)
                        }),
                    ]
                    // The data spread the softmax: the first row's weights are not concentrated on a few positions.
                    let p = Self.softmax((0..<visible).map { s in
                        let key = Int(b.slots?[s] ?? Int64(s)) * b.kstride
                        return 0.3 * (0..<dk).reduce(Float(0)) { $0 + q[$1] * b.keys.widened[key + $1] }
                    })
                    #expect(p.filter { $0 > 0.1 / Float(visible) }.count >= (visible + 1) / 2, "\(tag): softmax too peaked")
                    for (name, outputs, kernel) in checks {
                        let (narrowOut, wideOut) = Self.both(b, element: element, outputs: outputs, kernel)
                        #expect(!wideOut.contains { $0.isNaN }, "\(name) \(tag)")
                        #expect(narrowOut == wideOut, "\(name) \(tag)")
                    }
                }
            }
        }
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0, e = x.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
        return e.map { $0 / total }
    }

    @Test func narrowCachesHoldTwiceTheTokens() {
        let f32 = KVBlockStorage(layers: 3, blockCount: 4, blockSize: 16, width: 384)
        let f16 = KVBlockStorage(layers: 3, blockCount: 4, blockSize: 16, width: 384, element: .f16)
        #expect(f16.byteCount * 2 == f32.byteCount)
        let bytes = 1 << 20
        #expect(KVBlockStorage.blocks(fitting: bytes, layers: 3, blockSize: 16, width: 384, element: .bf16)
            == 2 * KVBlockStorage.blocks(fitting: bytes, layers: 3, blockSize: 16, width: 384))
        #expect(CPUDevice(kvElement: .f16).makeKVStorage(layers: 1, blockCount: 1, blockSize: 4, width: 8).element == .f16)
        #expect(CPUDevice().makeKVStorage(layers: 1, blockCount: 1, blockSize: 4, width: 8).element == .f32)
    }

    /// A CPU device with an fp16/bf16 cache: writeCache rounds (readCache and `entry` give the rounded values),
    /// and GQA attention (a prompt chunk, a lone decoding token on the split path, a batch of decode tokens)
    /// and latent attention give what an fp32 device gives over a cache written with the rounded values.
    @Test(arguments: narrow)
    func deviceAttentionOverANarrowCacheEqualsFP32OverRoundedValues(element: KVElement) {
        let (narrowDevice, wideDevice) = (CPUDevice(kvElement: element), CPUDevice())
        var seed = UInt64(element == .f16 ? 11 : 12)
        let (heads, kvHeads, d, t) = (9, 3, 64, 300)
        let width = 2 * kvHeads * d, blockSize = 16
        let narrowCache = narrowDevice.makeKVStorage(layers: 2, blockCount: 24, blockSize: blockSize, width: width)
        let wideCache = wideDevice.makeKVStorage(layers: 2, blockCount: 24, blockSize: blockSize, width: width)
        let table = (0..<20).map { ($0 * 7 + 2) % 24 }
        let slots = (0..<t).map { narrowCache.slot(position: $0, blockTable: table) }
        let kv = Matrix(rows: t, cols: width, data: CPUKernelParityTests.random(t * width, seed: &seed).map { $0 * 3 })
        narrowDevice.writeCache(narrowCache, layer: 1, slots: slots, values: kv, offset: 0)
        let roundedKV = Matrix(rows: t, cols: width, data: Self.rounded(kv.data, element).widened)
        #expect(roundedKV.data != kv.data)
        wideDevice.writeCache(wideCache, layer: 1, slots: slots, values: roundedKV, offset: 0)
        #expect(narrowDevice.readCache(narrowCache, layer: 1, slots: slots).data == roundedKV.data)
        #expect(narrowCache.entry(layer: 1, slot: slots[17]) == roundedKV.row(17))

        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d, scale: 0.125)
        let q = Matrix(rows: 13, cols: heads * d, data: CPUKernelParityTests.random(13 * heads * d, seed: &seed))
        let prompt = Array((t - 13)..<t)
        let narrowPrompt = narrowDevice.pagedAttention(q: q, cache: narrowCache, layer: 1, blockTable: table, positions: prompt, shape: shape)
        #expect(narrowPrompt == wideDevice.pagedAttention(q: q, cache: wideCache, layer: 1, blockTable: table, positions: prompt, shape: shape))
        // One decoding token from 300 positions: 3 KV heads for 2 cores take the split path.
        let one = Matrix(rows: 1, cols: q.cols, data: q.row(12))
        let narrowOne = narrowDevice.pagedAttention(q: one, cache: narrowCache, layer: 1, blockTable: table, positions: [t - 1], shape: shape)
        #expect(narrowOne == wideDevice.pagedAttention(q: one, cache: wideCache, layer: 1, blockTable: table, positions: [t - 1], shape: shape))
        #expect(narrowOne.row(0) == narrowPrompt.row(12))

        // MLA's latent attention: keys are whole entries, values their first 256.
        let latent = LatentAttentionShape(heads: 4, keyDim: width, valueDim: 256, scale: 0.05)
        let ql = Matrix(rows: 3, cols: 4 * width, data: CPUKernelParityTests.random(3 * 4 * width, seed: &seed))
        let positions = [t - 3, t - 2, t - 1]
        #expect(narrowDevice.pagedLatentAttention(q: ql, cache: narrowCache, layer: 1, blockTable: table, positions: positions, shape: latent)
            == wideDevice.pagedLatentAttention(q: ql, cache: wideCache, layer: 1, blockTable: table, positions: positions, shape: latent))

        // MLA's fused absorbed decode (block-quantised W_UK/W_UV, the path of quantised DeepSeek checkpoints):
        // 4 heads over latents of 352 + 32 rope, two sequences.
        let (h, n, r, rp, v) = (4, 64, 352, 32, 32)
        let absorbed = LatentAttentionShape(heads: h, keyDim: r + rp, valueDim: r, scale: 0.05)
        let wk = (0..<h).map { _ in DeviceWeight(shape: [r, n], blocks: P.randomBlocks(.q8_0, rows: r, cols: n, seed: &seed)) }
        let wv = (0..<h).map { _ in DeviceWeight(shape: [v, r], blocks: P.randomBlocks(.q8_0, rows: v, cols: r, seed: &seed)) }
        let sequences = [PagedSequence(rows: 0..<1, blockTable: table, positions: [t - 1]),
                         PagedSequence(rows: 1..<3, blockTable: table, positions: [40, 41])]
        let qNope = P.activations(3, h * n, seed: &seed), qRope = P.activations(3, h * rp, seed: &seed)
        let narrowAbsorbed = narrowDevice.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: wk, absorbedV: wv, cache: narrowCache,
                                                                  layer: 1, sequences: sequences, shape: absorbed)
        #expect(narrowAbsorbed != nil)
        #expect(narrowAbsorbed == wideDevice.absorbedLatentAttention(qNope: qNope, qRope: qRope, absorbedK: wk, absorbedV: wv, cache: wideCache,
                                                                     layer: 1, sequences: sequences, shape: absorbed))
    }
}
