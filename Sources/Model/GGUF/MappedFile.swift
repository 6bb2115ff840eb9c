import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Tensors borrow slices of it without copying; the
/// mapping lives as long as anything holds this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CheckpointError.io(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Everything that can be wrong with a checkpoint file, each naming the problem.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case truncated(what: String, offset: Int)
    case invalid(String)
    case unsupported(String)
    case missingTensor(String)
    case missingMetadata(String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "cannot read \(path): \(reason)"
        case let .truncated(what, offset): return "file is truncated: \(what) at byte \(offset) runs past the end"
        case let .invalid(msg): return "invalid checkpoint: \(msg)"
        case let .unsupported(msg): return "unsupported checkpoint: \(msg)"
        case let .missingTensor(name): return "checkpoint has no tensor named '\(name)'"
        case let .missingMetadata(key): return "checkpoint metadata lacks '\(key)'"
        }
    }
}
