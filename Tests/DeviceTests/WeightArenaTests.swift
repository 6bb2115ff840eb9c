import CKernels
import Testing
@testable import Device

/// Quantised weights uploaded to the CPU device live in its huge-page arena (WeightBytes.swift): the bytes
/// are the checkpoint's, each weight 64-byte aligned, and a weight outlives the device that placed it.
@Suite struct WeightArenaTests {
    typealias P = QuantKernelParityTests

    @Test func packedWeightsKeepTheirBytesAndAlignment() throws {
        var seed: UInt64 = 41
        let arena = WeightArena()
        // Odd sizes, and one larger than a first 2 MB chunk, so a weight starts a new chunk.
        let shapes = [(3, 64), (37, 96), (2_100, 1_024), (5, 32)]
        let blocks = shapes.map { P.randomBlocks(.q8_0, rows: $0.0, cols: $0.1, seed: &seed) }
        let packed = blocks.map { $0.packed(into: arena) }
        for (a, b) in zip(blocks, packed) {
            #expect(a.bytes.withUnsafeBytes { Array($0) } == b.bytes.withUnsafeBytes { Array($0) })
            #expect(b.bytes.count == a.rows * a.rowBytes)
            b.bytes.withUnsafeBytes { #expect(Int(bitPattern: $0.baseAddress) % 64 == 0) }
        }
    }

    @Test func uploadedWeightsMultiplyAsTheirBlocksAndOutliveTheDevice() throws {
        var seed: UInt64 = 43
        let blocks = P.randomBlocks(.q4_1, rows: 40, cols: 96, seed: &seed)
        let x = P.activations(3, 96, seed: &seed)
        let isa = Int32(CK_ISA_PORTABLE)
        let expected = QuantKernels.matmul(x, blocks, isa: isa)
        var device: CPUDevice? = CPUDevice()
        let weight = try blocks.bytes.withUnsafeBytes { bytes in
            try device!.upload(HostTensor(name: "w", dtype: .q4_1, shape: [40, 96], bytes: bytes, owner: nil))
        }
        device = nil
        let blocksAfter = try #require(weight.blocks)
        #expect(QuantKernels.matmul(x, blocksAfter, isa: isa) == expected)
    }
}
