import Device
import Foundation

/// The element types safetensors names (`dtype` in the header), with their widths.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"

    public var byteWidth: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
        }
    }

    /// The compute type this maps onto, or nil when MoEServe cannot run it.
    public var dtype: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f8e4m3: return .f8e4m3
        default: return nil
        }
    }
}

/// One value of the header object: a tensor entry, or the `__metadata__` string map.
enum HeaderEntry: Decodable {
    case tensor(dtype: String, shape: [UInt64], offsets: [UInt64])
    case metadata([String: String])

    enum Keys: String, CodingKey { case dtype, shape, data_offsets }

    init(from decoder: Decoder) throws {
        if let map = try? decoder.singleValueContainer().decode([String: String].self) {
            self = .metadata(map)
            return
        }
        let c = try decoder.container(keyedBy: Keys.self)
        self = .tensor(dtype: try c.decode(String.self, forKey: .dtype), shape: try c.decode([UInt64].self, forKey: .shape),
                       offsets: try c.decode([UInt64].self, forKey: .data_offsets))
    }
}

/// Where one tensor's bytes sit in a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let range: Range<Int>
}

/// One `.safetensors` file: a u64 little-endian header length, a JSON header, then the tensor bytes.
///
/// The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
/// relative to the data section) plus an optional `"__metadata__"` string map. As in the reference
/// implementation, the tensors must tile the data section exactly: no overlaps, no holes, nothing after.
/// Tensors are zero-copy views into the mapping.
public final class SafetensorsFile: @unchecked Sendable {
    public let metadata: [String: String]
    /// Tensors in data order.
    public let tensorInfos: [SafetensorsTensorInfo]
    public let dataOffset: Int
    private let bytes: UnsafeRawBufferPointer
    private let storage: MappedFile?
    private let index: [String: Int]

    /// Headers beyond this are not plausible (the reference implementation's limit is 100 MB).
    static let maxHeaderBytes: UInt64 = 100_000_000

    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        do {
            try self.init(bytes: file.bytes, owner: file)
        } catch let error as CheckpointError {
            throw error.in(file: path)
        }
    }

    /// Parses safetensors bytes held alive by `owner` (nil for buffers the caller keeps alive).
    public init(bytes: UnsafeRawBufferPointer, owner: MappedFile?) throws {
        self.bytes = bytes
        storage = owner
        var cursor = ByteCursor(bytes)
        let headerLength = try cursor.read(UInt64.self, "header length")
        guard headerLength >= 2, headerLength <= Self.maxHeaderBytes else {
            throw CheckpointError.invalid("safetensors header length \(headerLength) is implausible")
        }
        guard headerLength <= UInt64(cursor.remaining) else {
            throw CheckpointError.truncated(what: "safetensors header of \(headerLength) bytes", offset: 8)
        }
        dataOffset = 8 + Int(headerLength)
        let header = Data(UnsafeRawBufferPointer(rebasing: bytes[8..<dataOffset]))
        let (meta, infos) = try Self.parseHeader(header)
        metadata = meta
        tensorInfos = try Self.validateLayout(infos, dataSize: bytes.count - dataOffset)
        index = Dictionary(uniqueKeysWithValues: tensorInfos.enumerated().map { ($1.name, $0) })
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensorInfos[$0] } }

    /// Zero-copy view of a tensor's bytes.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let info = info(name) else { throw CheckpointError.missingTensor(name) }
        guard let dtype = info.dtype.dtype else {
            throw CheckpointError.unsupported("tensor '\(name)' has dtype \(info.dtype.rawValue) (supported: F32, F16, BF16, F8_E4M3)")
        }
        let start = dataOffset + info.range.lowerBound
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + info.range.count)])
        return HostTensor(name: name, dtype: dtype, shape: info.shape, bytes: slice, owner: storage)
    }

    /// An integer tensor's values (little-endian I64/I32/I16/I8/U8), e.g. DeepSeek-V4's token→expert table.
    public func integers(_ name: String) throws -> [Int] {
        guard let info = info(name) else { throw CheckpointError.missingTensor(name) }
        let start = dataOffset + info.range.lowerBound
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + info.range.count)])
        let count = info.shape.reduce(1, *)
        switch info.dtype {
        case .i64: return (0..<count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32: return (0..<count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .i16: return (0..<count).map { Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
        case .i8: return (0..<count).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8: return (0..<count).map { Int(raw[$0]) }
        default: throw CheckpointError.unsupported("tensor '\(name)' has dtype \(info.dtype.rawValue) where integers are expected")
        }
    }

    private static func parseHeader(_ header: Data) throws -> ([String: String], [SafetensorsTensorInfo]) {
        let root: [String: HeaderEntry]
        do {
            root = try JSONDecoder().decode([String: HeaderEntry].self, from: header)
        } catch {
            throw CheckpointError.invalid("safetensors header is not valid: \(Self.describe(error))")
        }
        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, entry) in root {
            switch entry {
            case let .metadata(map):
                guard name == "__metadata__" else { throw CheckpointError.invalid("tensor '\(name)' header entry lacks dtype/shape/data_offsets") }
                metadata = map
            case let .tensor(dtype, shape, offsets):
                guard name != "__metadata__" else { throw CheckpointError.invalid("safetensors __metadata__ must map strings to strings") }
                infos.append(try tensorInfo(name, dtype, shape, offsets))
            }
        }
        return (metadata, infos)
    }

    private static func tensorInfo(_ name: String, _ rawType: String, _ shape: [UInt64], _ offsets: [UInt64]) throws -> SafetensorsTensorInfo {
        guard let dtype = SafetensorsDType(rawValue: rawType) else { throw CheckpointError.invalid("tensor '\(name)' has unknown dtype '\(rawType)'") }
        let limit = UInt64(Int.max)
        guard offsets.count == 2, offsets[0] <= offsets[1], offsets[1] <= limit else {
            throw CheckpointError.invalid("tensor '\(name)' data_offsets \(offsets) is not [begin, end] with begin ≤ end")
        }
        var bytes = dtype.byteWidth
        for d in shape {
            let (m, overflow) = bytes.multipliedReportingOverflow(by: Int(clamping: d))
            guard !overflow, d <= limit else { throw CheckpointError.invalid("tensor '\(name)' of shape \(shape) is too large") }
            bytes = m
        }
        let (begin, end) = (Int(offsets[0]), Int(offsets[1]))
        guard bytes == end - begin else {
            throw CheckpointError.invalid("tensor '\(name)': \(rawType) \(shape) needs \(bytes) bytes, data_offsets span \(end - begin)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape.map { Int($0) }, range: begin..<end)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(c): return c.debugDescription
        case let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c):
            return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case let DecodingError.keyNotFound(key, c):
            return "\((c.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is missing"
        default: return "\(error)"
        }
    }

    /// Sorted by offset, the tensors must cover 0..<dataSize back to back.
    private static func validateLayout(_ infos: [SafetensorsTensorInfo], dataSize: Int) throws -> [SafetensorsTensorInfo] {
        let sorted = infos.sorted { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        var end = 0
        for info in sorted {
            guard info.range.lowerBound >= end else {
                throw CheckpointError.invalid("tensor '\(info.name)' bytes \(info.range) overlap the previous tensor (which ends at \(end))")
            }
            guard info.range.lowerBound == end else {
                throw CheckpointError.invalid("tensor '\(info.name)' starts at \(info.range.lowerBound), leaving a hole after byte \(end)")
            }
            guard info.range.upperBound <= dataSize else {
                throw CheckpointError.truncated(what: "data of tensor '\(info.name)' (bytes \(info.range), data section has \(dataSize))", offset: info.range.lowerBound)
            }
            end = info.range.upperBound
        }
        guard end == dataSize else { throw CheckpointError.invalid("\(dataSize - end) bytes after the last tensor belong to no tensor") }
        return sorted
    }
}

extension CheckpointError {
    /// The same error, naming the file it came from.
    func `in`(file path: String) -> CheckpointError {
        switch self {
        case .io: return self
        case let .truncated(what, offset): return .truncated(what: "\(path): \(what)", offset: offset)
        case let .invalid(msg): return .invalid("\(path): \(msg)")
        case let .unsupported(msg): return .unsupported("\(path): \(msg)")
        case .missingTensor, .missingMetadata: return self
        }
    }
}
