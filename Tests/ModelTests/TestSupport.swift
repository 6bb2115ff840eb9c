import Foundation

enum TestPaths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = tests.appendingPathComponent("Fixtures")
    /// The default model, fetched by `scripts/setup` (the tests need it; `scripts/test` runs setup first).
    static let defaultModel = tests.deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func requireModel() throws -> String {
        guard FileManager.default.fileExists(atPath: defaultModel) else {
            throw MissingModel(path: defaultModel)
        }
        return defaultModel
    }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent(relative)))
    }
}

struct MissingModel: Error, CustomStringConvertible {
    let path: String
    var description: String { "model not found at \(path): run scripts/setup (scripts/test does) to fetch it" }
}

/// Builds GGUF files in memory for reader tests.
struct GGUFBuilder {
    var metadata: [(String, UInt32, [UInt8])] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, data: [UInt8])] = []
    var alignment = 32

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func add(_ key: String, string: String) { metadata.append((key, 8, Self.str(string))) }
    mutating func add(_ key: String, uint32: UInt32) { metadata.append((key, 4, Self.le(uint32))) }
    mutating func add(_ key: String, float32: Float) { metadata.append((key, 6, Self.le(float32.bitPattern))) }
    mutating func add(_ key: String, strings: [String]) {
        metadata.append((key, 9, Self.le(UInt32(8)) + Self.le(UInt64(strings.count)) + strings.flatMap(Self.str)))
    }

    func build() -> [UInt8] {
        var out = Self.le(UInt32(0x4655_4747)) + Self.le(UInt32(3)) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(metadata.count))
        for (k, t, v) in metadata { out += Self.str(k) + Self.le(t) + v }
        var offset = 0
        var data: [UInt8] = []
        for t in tensors {
            out += Self.str(t.name) + Self.le(UInt32(t.dims.count)) + t.dims.flatMap { Self.le($0) } + Self.le(t.type) + Self.le(UInt64(offset))
            data += t.data
            while data.count % alignment != 0 { data.append(0) }
            offset = data.count
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }
}
