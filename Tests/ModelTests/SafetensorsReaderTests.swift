import Device
import Foundation
import Testing
@testable import Model

@Suite struct SafetensorsReaderTests {
    func parse(_ bytes: [UInt8]) throws -> SafetensorsFile {
        // Copy into memory that outlives the parse (the file object borrows it).
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        p.copyBytes(from: bytes)
        return try SafetensorsFile(bytes: UnsafeRawBufferPointer(rebasing: p[0..<bytes.count]), owner: nil)
    }

    func sample() -> SafetensorsBuilder {
        var b = SafetensorsBuilder()
        b.metadata = ["format": "pt"]
        b.add("w", "F32", [2, 3], floats: [1, -2, 3.5, 0.25, 8, -16])
        b.add("h", "F16", [2], bytes: [0x00, 0x3C, 0x00, 0xC0])
        b.add("b", "BF16", [2], bytes: [0x80, 0x3F, 0x40, 0xC0])
        return b
    }

    @Test func readsHeaderMetadataAndTensors() throws {
        let f = try parse(sample().build())
        #expect(f.metadata == ["format": "pt"])
        #expect(f.tensorInfos.map(\.name) == ["w", "h", "b"])
        let w = try f.tensor("w")
        #expect(w.shape == [2, 3] && w.dtype == .f32)
        #expect(w.toFloat32() == [1, -2, 3.5, 0.25, 8, -16])
        #expect(try f.tensor("h").toFloat32() == [1, -2])
        #expect(try f.tensor("b").toFloat32() == [1, -3])
        #expect(throws: CheckpointError.missingTensor("nope")) { try f.tensor("nope") }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let full = sample().build()
        for cut in 0..<full.count {
            #expect(throws: CheckpointError.self, "cut at \(cut)") { try parse(Array(full[0..<cut])) }
        }
    }

    @Test func rejectsInconsistentHeaders() throws {
        func expectInvalid(_ b: SafetensorsBuilder, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try parse(b.build())
                Issue.record("accepted a bad header (\(fragment))", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        var overlap = sample()
        overlap.entries[1].offsets = (20, 24)
        expectInvalid(overlap, "overlap")
        var hole = sample()
        hole.entries[2].offsets = (30, 34)
        hole.data += [0, 0]
        expectInvalid(hole, "hole")
        var size = sample()
        size.entries[0].shape = [3, 3]
        expectInvalid(size, "needs 36 bytes")
        var dtype = sample()
        dtype.entries[0].dtype = "F31"
        expectInvalid(dtype, "unknown dtype")
        var trailing = sample()
        trailing.data += [1, 2, 3]
        expectInvalid(trailing, "belong to no tensor")
        var reversed = sample()
        reversed.entries[0].offsets = (24, 0)
        expectInvalid(reversed, "begin ≤ end")
        var negative = sample()
        negative.rawShape = ["w": "[-2, -3]"]
        expectInvalid(negative, "not valid")
        var metadata = sample()
        metadata.rawMetadata = "{\"format\": 1}"
        expectInvalid(metadata, "__metadata__")
        // Header length beyond the file, and absurdly large.
        var bytes = sample().build()
        bytes.replaceSubrange(0..<8, with: SafetensorsBuilder.le(UInt64(1) << 40))
        #expect(throws: CheckpointError.self) { try parse(bytes) }
        #expect(throws: CheckpointError.self) { try parse(SafetensorsBuilder.le(UInt64(1)) + [0x7B]) }
        #expect(throws: CheckpointError.self) { try parse(SafetensorsBuilder.le(UInt64(2)) + Array("[]".utf8)) }
    }

    @Test func decodesEveryFP8E4M3Byte() {
        // Reference points of the OCP FP8 spec (E4M3 "fn"): max normal 448, min normal 2⁻⁶, min subnormal 2⁻⁹.
        #expect(Dequantize.e4m3ToFloat(0x7E) == 448)
        #expect(Dequantize.e4m3ToFloat(0xFE) == -448)
        #expect(Dequantize.e4m3ToFloat(0x08) == 0.015625)
        #expect(Dequantize.e4m3ToFloat(0x01) == 0.001953125)
        #expect(Dequantize.e4m3ToFloat(0x38) == 1)
        #expect(Dequantize.e4m3ToFloat(0x3C) == 1.5)
        #expect(Dequantize.e4m3ToFloat(0x7F).isNaN && Dequantize.e4m3ToFloat(0xFF).isNaN)
        #expect(Dequantize.e4m3ToFloat(0x80) == 0 && Dequantize.e4m3ToFloat(0x80).sign == .minus)
        let finite = (0..<256).map { Dequantize.e4m3ToFloat(UInt8($0)) }.filter { !$0.isNaN }
        #expect(finite.count == 254)
    }

    @Test func shardedFolderWithBlockScaledFP8() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A [3, 5] FP8 weight in 2 × 2 blocks: the scale grid is [2, 3] and the edge blocks are clipped.
        var a = SafetensorsBuilder()
        a.add("q.weight", "F8_E4M3", [3, 5], bytes: [UInt8](repeating: 0x38, count: 15))   // all 1.0
        var b = SafetensorsBuilder()
        b.add("q.weight_scale_inv", "F32", [2, 3], floats: [1, 2, 3, 4, 5, 6])
        b.add("norm.weight", "F32", [2], floats: [7, 8])
        try Data(a.build()).write(to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try Data(b.build()).write(to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = """
        {"metadata": {"total_size": 47}, "weight_map": {"q.weight": "model-00001-of-00002.safetensors",
         "q.weight_scale_inv": "model-00002-of-00002.safetensors", "norm.weight": "model-00002-of-00002.safetensors"}}
        """
        try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let ckpt = try SafetensorsCheckpoint(directory: dir)
        ckpt.fp8BlockSize = [2, 2]
        #expect(ckpt.names == ["norm.weight", "q.weight", "q.weight_scale_inv"])
        #expect(try ckpt.tensor("norm.weight").toFloat32() == [7, 8])
        let q = try ckpt.tensor("q.weight")
        #expect(q.dtype == .f8e4m3)
        #expect(q.toFloat32() == [1, 1, 2, 2, 3, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6])
        #expect(try CPUDevice().upload(q).values == q.toFloat32())

        // The index naming a tensor its shard does not hold is an error.
        let bad = index.replacingOccurrences(of: "\"norm.weight\": \"model-00002", with: "\"norm.weight\": \"model-00001")
        try Data(bad.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        #expect(throws: CheckpointError.self) { try SafetensorsCheckpoint(directory: dir) }
    }
}

/// Builds safetensors files in memory for reader tests (tensors laid out in `entries` order).
struct SafetensorsBuilder {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var offsets: (Int, Int)
    }

    var metadata: [String: String] = [:]
    var entries: [Entry] = []
    var data: [UInt8] = []
    /// Raw JSON overrides, to write headers a well-formed builder would not.
    var rawShape: [String: String] = [:]
    var rawMetadata: String?

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    mutating func add(_ name: String, _ dtype: String, _ shape: [Int], bytes: [UInt8]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, offsets: (data.count, data.count + bytes.count)))
        data += bytes
    }

    mutating func add(_ name: String, _ dtype: String, _ shape: [Int], floats: [Float]) {
        add(name, dtype, shape, bytes: floats.flatMap { Self.le($0.bitPattern) })
    }

    func build() -> [UInt8] {
        var parts: [String] = []
        if let rawMetadata {
            parts.append("\"__metadata__\": \(rawMetadata)")
        } else if !metadata.isEmpty {
            parts.append("\"__metadata__\": {" + metadata.map { "\"\($0)\": \"\($1)\"" }.joined(separator: ", ") + "}")
        }
        for e in entries {
            let shape = rawShape[e.name] ?? "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            parts.append("\"\(e.name)\": {\"dtype\": \"\(e.dtype)\", \"shape\": \(shape), \"data_offsets\": [\(e.offsets.0), \(e.offsets.1)]}")
        }
        var header = Array(("{" + parts.joined(separator: ", ") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }   // the reference writer pads with spaces
        return Self.le(UInt64(header.count)) + header + data
    }
}
