import Device

/// Where one tensor's bytes sit in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Row-major, outermost first (GGUF stores dims innermost first; we reverse them on read).
    public let shape: [Int]
    public let dtype: DType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int
}

/// A parsed GGUF (v2/v3) file: metadata, tensor directory, and zero-copy tensor access.
///
/// Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata key/values,
/// tensor infos (name, n_dims, dims innermost first, type, offset), padding to `general.alignment`
/// (default 32), then the data section.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for listing).
    public let metadataKeys: [String]
    public let tensorInfos: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    private let storage: MappedFile?
    private let bytes: UnsafeRawBufferPointer
    private let index: [String: Int]

    /// Largest counts we accept before calling a header corrupt (they would otherwise drive huge allocations).
    static let maxTensors: UInt64 = 1 << 20
    static let maxMetadata: UInt64 = 1 << 20
    static let maxArray: UInt64 = 1 << 26

    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, owner: file)
    }

    /// Parses GGUF bytes held alive by `owner` (a `MappedFile`, or nil for buffers the caller keeps alive).
    public init(bytes: UnsafeRawBufferPointer, owner: MappedFile?) throws {
        self.bytes = bytes
        self.storage = owner
        var c = ByteCursor(bytes)
        let magic = try c.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else { throw CheckpointError.invalid("not a GGUF file (bad magic)") }
        version = try c.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw CheckpointError.unsupported("GGUF version \(version) (supported: 2, 3)") }
        let tensorCount = try c.read(UInt64.self, "tensor count")
        let kvCount = try c.read(UInt64.self, "metadata count")
        guard tensorCount <= Self.maxTensors else { throw CheckpointError.invalid("tensor count \(tensorCount) is implausible") }
        guard kvCount <= Self.maxMetadata else { throw CheckpointError.invalid("metadata count \(kvCount) is implausible") }

        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<kvCount {
            let key = try c.readString("metadata key")
            let rawType = try c.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFWireType(rawValue: rawType) else { throw CheckpointError.invalid("metadata '\(key)' has unknown type \(rawType)") }
            guard meta[key] == nil else { throw CheckpointError.invalid("metadata key '\(key)' appears twice") }
            meta[key] = try Self.readValue(&c, type: type, key: key)
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys

        let align = meta["general.alignment"]?.intValue ?? 32
        guard align > 0, align & (align - 1) == 0 else { throw CheckpointError.invalid("general.alignment \(align) is not a power of two") }
        alignment = align

        var infos: [(String, [Int], DType, UInt64)] = []
        for i in 0..<tensorCount {
            infos.append(try Self.readTensorInfo(&c, index: Int(i)))
        }
        dataOffset = (c.offset + align - 1) / align * align
        let dataSize = bytes.count - min(bytes.count, dataOffset)
        tensorInfos = try Self.validate(infos, alignment: align, dataSize: dataSize)
        var idx: [String: Int] = [:]
        for (i, t) in tensorInfos.enumerated() {
            guard idx[t.name] == nil else { throw CheckpointError.invalid("tensor '\(t.name)' appears twice") }
            idx[t.name] = i
        }
        index = idx
    }

    private static func readTensorInfo(_ c: inout ByteCursor, index: Int) throws -> (String, [Int], DType, UInt64) {
        let name = try c.readString("name of tensor \(index)")
        let nDims = try c.read(UInt32.self, "dims of '\(name)'")
        guard (1...4).contains(nDims) else { throw CheckpointError.invalid("tensor '\(name)' has \(nDims) dimensions (1–4 allowed)") }
        var dims: [Int] = []
        for _ in 0..<nDims {
            let d = try c.read(UInt64.self, "dims of '\(name)'")
            guard d > 0, d < (1 << 40) else { throw CheckpointError.invalid("tensor '\(name)' has dimension \(d)") }
            dims.append(Int(d))
        }
        let rawType = try c.read(UInt32.self, "type of '\(name)'")
        guard let dtype = DType(rawValue: rawType), dtype != .f8e4m3 else {
            throw CheckpointError.unsupported("tensor '\(name)' has ggml type \(rawType) (supported: \(DType.allCases.filter { $0 != .f8e4m3 }.map(\.description).joined(separator: ", ")))")
        }
        let offset = try c.read(UInt64.self, "offset of '\(name)'")
        return (name, Array(dims.reversed()), dtype, offset)
    }

    private static func validate(_ infos: [(String, [Int], DType, UInt64)], alignment: Int, dataSize: Int) throws -> [GGUFTensorInfo] {
        try infos.map { name, shape, dtype, offset in
            var count = 1
            for d in shape {
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw CheckpointError.invalid("tensor '\(name)' is too large") }
                count = m
            }
            guard shape.last! % dtype.blockSize == 0, let size = dtype.byteCount(elements: count) else {
                throw CheckpointError.invalid("tensor '\(name)' row length \(shape.last!) is not a multiple of the \(dtype) block size \(dtype.blockSize)")
            }
            guard offset % UInt64(alignment) == 0 else { throw CheckpointError.invalid("tensor '\(name)' offset \(offset) is not aligned to \(alignment)") }
            guard offset <= UInt64(dataSize), UInt64(size) <= UInt64(dataSize) - offset else {
                throw CheckpointError.truncated(what: "data of tensor '\(name)' (\(size) bytes at data offset \(offset), data section has \(dataSize))", offset: Int(clamping: offset))
            }
            return GGUFTensorInfo(name: name, shape: shape, dtype: dtype, offset: Int(offset), byteCount: size)
        }
    }

    private static func readValue(_ c: inout ByteCursor, type: GGUFWireType, key: String) throws -> GGUFValue {
        let what = "value of '\(key)'"
        switch type {
        case .uint8: return .uint(UInt64(try c.read(UInt8.self, what)))
        case .int8: return .int(Int64(try c.read(Int8.self, what)))
        case .uint16: return .uint(UInt64(try c.read(UInt16.self, what)))
        case .int16: return .int(Int64(try c.read(Int16.self, what)))
        case .uint32: return .uint(UInt64(try c.read(UInt32.self, what)))
        case .int32: return .int(Int64(try c.read(Int32.self, what)))
        case .uint64: return .uint(try c.read(UInt64.self, what))
        case .int64: return .int(try c.read(Int64.self, what))
        case .float32: return .float(Double(try c.readFloat(what)))
        case .float64: return .float(try c.readDouble(what))
        case .bool:
            let b = try c.read(UInt8.self, what)
            guard b <= 1 else { throw CheckpointError.invalid("metadata '\(key)' has bool value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try c.readString(what))
        case .array:
            let rawType = try c.read(UInt32.self, "element type of '\(key)'")
            guard let elemType = GGUFWireType(rawValue: rawType) else { throw CheckpointError.invalid("metadata '\(key)' has array element type \(rawType)") }
            guard elemType != .array else { throw CheckpointError.unsupported("metadata '\(key)' is a nested array") }
            let count = try c.read(UInt64.self, "length of '\(key)'")
            // Each element takes at least one byte, so a count beyond what is left is a lie.
            guard count <= maxArray, count <= UInt64(c.remaining) else { throw CheckpointError.truncated(what: "array '\(key)' of \(count) elements", offset: c.offset) }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count { values.append(try readValue(&c, type: elemType, key: key)) }
            return .array(values)
        }
    }

    /// The tensor directory entry for `name`, if present.
    public func info(_ name: String) -> GGUFTensorInfo? { index[name].map { tensorInfos[$0] } }

    /// Zero-copy view of a tensor's bytes.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let info = info(name) else { throw CheckpointError.missingTensor(name) }
        let start = dataOffset + info.offset
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + info.byteCount)])
        return HostTensor(name: name, dtype: info.dtype, shape: info.shape, bytes: slice, owner: storage)
    }

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    public func double(_ key: String) -> Double? { metadata[key]?.doubleValue }

    public func require<T>(_ key: String, _ get: (String) -> T?) throws -> T {
        guard let v = get(key) else { throw CheckpointError.missingMetadata(key) }
        return v
    }
}
