import Device
import Foundation
import Testing
@testable import Model

@Suite struct GGUFReaderTests {
    func parse(_ bytes: [UInt8]) throws -> GGUFFile {
        // Copy into memory that outlives the parse (the file object borrows it).
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        p.copyBytes(from: bytes)
        return try GGUFFile(bytes: UnsafeRawBufferPointer(rebasing: p[0..<bytes.count]), owner: nil)
    }

    func sample() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "llama")
        b.add("llama.block_count", uint32: 2)
        b.add("llama.rope.freq_base", float32: 10000)
        b.add("tokenizer.ggml.tokens", strings: ["a", "b", "ü"])
        let floats: [Float] = [1, -2, 3.5, 0.25, 8, -16]
        b.tensors.append(("w", [3, 2], 0, floats.flatMap { GGUFBuilder.le($0.bitPattern) }))
        return b
    }

    @Test func readsMetadataAndTensors() throws {
        let f = try parse(sample().build())
        #expect(f.version == 3)
        #expect(f.string("general.architecture") == "llama")
        #expect(f.int("llama.block_count") == 2)
        #expect(f.double("llama.rope.freq_base") == 10000)
        #expect(f.metadata["tokenizer.ggml.tokens"]?.arrayValue?.compactMap(\.stringValue) == ["a", "b", "ü"])
        let t = try f.tensor("w")
        #expect(t.shape == [2, 3])   // GGUF dims are innermost first
        #expect(t.dtype == .f32)
        #expect(t.toFloat32() == [1, -2, 3.5, 0.25, 8, -16])
        #expect(throws: CheckpointError.missingTensor("nope")) { try f.tensor("nope") }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let full = sample().build()
        // The last 8 bytes pad the final tensor (24 bytes) to the 32-byte alignment; cutting them loses nothing.
        for cut in 0..<(full.count - 8) {
            #expect(throws: CheckpointError.self, "cut at \(cut)") { try parse(Array(full[0..<cut])) }
        }
    }

    @Test func rejectsInconsistentFiles() throws {
        var bad = sample().build()
        bad[0] = 0x58
        #expect(throws: CheckpointError.invalid("not a GGUF file (bad magic)")) { try parse(bad) }

        var b = sample()
        b.tensors[0].type = 99
        #expect(throws: CheckpointError.self) { try parse(b.build()) }

        // Q8_0 rows must be whole blocks of 32.
        var q = sample()
        q.tensors = [("q", [16], 8, [UInt8](repeating: 0, count: 34))]
        #expect(throws: CheckpointError.self) { try parse(q.build()) }

        // Duplicate metadata keys are a corrupt header.
        var d = sample()
        d.add("llama.block_count", uint32: 3)
        #expect(throws: CheckpointError.invalid("metadata key 'llama.block_count' appears twice")) { try parse(d.build()) }
    }

    @Test func dequantisesEveryBlockType() throws {
        // Q8_0: d = 0.5 (fp16 0x3800), q = -16 … 15 → x = q · 0.5
        let q8: [UInt8] = [0x00, 0x38] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        // Q4_0: d = 2 (0x4000), nibbles: low = j, high = 15 − j → x = (q − 8) · 2
        let q40: [UInt8] = [0x00, 0x40] + (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        // Q4_1: d = 0.25 (0x3400), m = -1 (0xBC00) → x = q · 0.25 − 1
        let q41: [UInt8] = [0x00, 0x34, 0x00, 0xBC] + (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        var b = GGUFBuilder()
        b.tensors = [("q8", [32], 8, q8), ("q40", [32], 2, q40), ("q41", [32], 3, q41),
                     ("f16", [2], 1, [0x00, 0x3C, 0x00, 0xC0]), ("bf16", [2], 30, [0x80, 0x3F, 0x40, 0xC0])]
        let f = try parse(b.build())
        #expect(try f.tensor("q8").toFloat32() == (0..<32).map { Float($0 - 16) * 0.5 })
        #expect(try f.tensor("q40").toFloat32() == (0..<16).map { Float($0 - 8) * 2 } + (0..<16).map { Float(15 - $0 - 8) * 2 })
        #expect(try f.tensor("q41").toFloat32() == (0..<16).map { Float($0) * 0.25 - 1 } + (0..<16).map { Float(15 - $0) * 0.25 - 1 })
        #expect(try f.tensor("f16").toFloat32() == [1, -2])
        #expect(try f.tensor("bf16").toFloat32() == [1, -3])
    }
}
