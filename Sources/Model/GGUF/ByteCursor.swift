/// Bounds-checked little-endian reader over a byte buffer. Every read throws `truncated` instead of
/// reading past the end, so a damaged file is an error, never a crash.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else { throw CheckpointError.truncated(what: what, offset: offset) }
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        try need(MemoryLayout<T>.size, what)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ what: String) throws -> Float { Float(bitPattern: try read(UInt32.self, what)) }
    mutating func readDouble(_ what: String) throws -> Double { Double(bitPattern: try read(UInt64.self, what)) }

    /// A GGUF string: u64 length, then that many UTF-8 bytes (not NUL-terminated).
    mutating func readString(_ what: String) throws -> String {
        let len = try read(UInt64.self, what)
        guard len <= UInt64(remaining) else { throw CheckpointError.truncated(what: what, offset: offset) }
        let n = Int(len)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }
}
