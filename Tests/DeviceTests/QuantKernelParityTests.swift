import CKernels
import Testing
@testable import Device

/// The quantised matmul kernels (every ISA variant this CPU runs) equal the reference matmul on the
/// reference-dequantised weight; the device keeps GGUF blocks at upload and reads rows from them.
@Suite struct QuantKernelParityTests {
    static let formats: [DType] = [.q4_0, .q4_1, .q8_0]

    /// ISA variants to check here: the portable loops always, AVX2 where the CPU has it.
    static var variants: [Int32] {
        let f = CPUFeatures.detect()
        return [Int32(CK_ISA_PORTABLE)] + (f.avx2 && f.fma && f.f16c ? [Int32(CK_ISA_AVX2)] : [])
    }

    /// Random blocks with fp16 scales in [2⁻⁸, 2⁻⁴) (and Q4_1 minima of either sign).
    static func randomBlocks(_ dtype: DType, rows: Int, cols: Int, seed: inout UInt64) -> QuantisedBlocks {
        let count = rows * cols / 32 * dtype.blockBytes
        var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: next(&seed) >> 24) }
        for b in stride(from: 0, to: count, by: dtype.blockBytes) {
            let half = { (v: Float) in Float16(v).bitPattern }
            let d = half(Float(next(&seed) % 1000 + 100) / 16000)
            bytes[b] = UInt8(d & 0xFF); bytes[b + 1] = UInt8(d >> 8)
            if dtype == .q4_1 {
                let m = half(Float(Int(next(&seed) % 2000) - 1000) / 4000)
                bytes[b + 2] = UInt8(m & 0xFF); bytes[b + 3] = UInt8(m >> 8)
            }
        }
        return bytes.withUnsafeBytes { QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, source: $0) }
    }

    static func next(_ seed: inout UInt64) -> UInt64 {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return seed >> 11
    }

    static func activations(_ t: Int, _ k: Int, seed: inout UInt64) -> Matrix {
        Matrix(rows: t, cols: k, data: (0..<(t * k)).map { _ in Float(Int(next(&seed) % 2000) - 1000) / 1000 })
    }

    @Test(arguments: [(1, 32, 1), (1, 576, 131), (3, 96, 17), (7, 608, 65), (16, 1536, 9), (130, 64, 5)])
    func matmulMatchesReference(t: Int, k: Int, n: Int) {
        for dtype in Self.formats {
            var seed = UInt64(t * 7919 + k * 31 + n) &+ UInt64(dtype.rawValue)
            let blocks = Self.randomBlocks(dtype, rows: n, cols: k, seed: &seed)
            let x = Self.activations(t, k, seed: &seed)
            let ref = ReferenceKernels.matmul(x, DeviceWeight(shape: [n, k], blocks: blocks))
            let scale = ref.data.map(abs).max() ?? 1
            for isa in Self.variants {
                let fast = QuantKernels.matmul(x, blocks, isa: isa)
                let err = zip(fast.data, ref.data).map { abs($0 - $1) }.max() ?? 0
                #expect(fast.rows == t && fast.cols == n)
                #expect(err <= 1e-5 * max(1, scale), "\(dtype) isa \(isa) [\(t), \(k)]·[\(n), \(k)]ᵀ: max error \(err)")
            }
        }
    }

    @Test func matmulRowsDoNotDependOnBatch() {
        for dtype in Self.formats {
            var seed: UInt64 = 99
            let blocks = Self.randomBlocks(dtype, rows: 70, cols: 320, seed: &seed)
            let x = Self.activations(5, 320, seed: &seed)
            for isa in Self.variants {
                let all = QuantKernels.matmul(x, blocks, isa: isa)
                for r in 0..<5 {
                    let one = QuantKernels.matmul(Matrix(rows: 1, cols: 320, data: x.row(r)), blocks, isa: isa)
                    #expect(one.data == all.row(r), "\(dtype) isa \(isa) row \(r)")
                }
            }
        }
    }

    @Test func deviceKeepsBlocksAndReadsRowsFromThem() throws {
        var seed: UInt64 = 5
        let blocks = Self.randomBlocks(.q4_1, rows: 6, cols: 64, seed: &seed)
        let tensor = blocks.bytes.withUnsafeBytes {
            HostTensor(name: "w", dtype: .q4_1, shape: [6, 64], bytes: $0, owner: nil)
        }
        let reference = tensor.toFloat32()
        let device = CPUDevice(), fp32 = CPUDevice(keepsQuantisedWeights: false)
        let kept = try device.upload(tensor), plain = try fp32.upload(tensor)
        #expect(kept.blocks != nil && plain.blocks == nil)
        #expect(device.uploadedWeightBytes == 6 * 2 * 20 && fp32.uploadedWeightBytes == 6 * 64 * 4)
        #expect(kept.values == reference)
        let rows = device.embedding([4, 1], table: kept)
        #expect(rows.data == Array(reference[256..<320] + reference[64..<128]))
        let x = Self.activations(2, 64, seed: &seed)
        let err = zip(device.matmul(x, kept).data, fp32.matmul(x, plain).data).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= 1e-5)
    }
}
