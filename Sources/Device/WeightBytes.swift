import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The immutable bytes of a quantised weight: a slice of a `WeightChunk` that nothing else writes after
/// the copy in. Read through `withUnsafeBufferPointer`/`withUnsafeBytes`, as an array would be.
public struct WeightBytes: Sendable {
    private let chunk: WeightChunk
    private let offset: Int
    public let count: Int

    /// A copy of `source` in memory of its own.
    public init(copying source: UnsafeRawBufferPointer) {
        let chunk = WeightChunk(capacity: source.count, hugePages: false)
        self.init(chunk: chunk, offset: 0, count: source.count)
        chunk.write(source, at: 0)
    }

    init(chunk: WeightChunk, offset: Int, count: Int) {
        self.chunk = chunk
        self.offset = offset
        self.count = count
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: chunk.base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), count: count))
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: chunk.base.advanced(by: offset), count: count))
    }
}

/// One allocation that weights are copied into (and that holds a KV cache's layers, `KVBlockStorage`), freed
/// when the last weight in it goes. With `hugePages`
/// it is a 2 MB-aligned anonymous mapping marked MADV_HUGEPAGE (Linux), so the kernel backs it with
/// transparent huge pages even where THP is `madvise`-only: a decode step streams every active weight
/// once, and on 4 KB pages that costs a page walk per 4 KB and measurably less bandwidth.
final class WeightChunk: @unchecked Sendable {
    static let hugePage = 2 << 20
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private let mapped: Bool

    init(capacity: Int, hugePages: Bool) {
        self.capacity = capacity
        if hugePages, let mapping = Self.mapHuge(capacity) {
            (base, mapped) = (mapping, true)
        } else {
            (base, mapped) = (UnsafeMutableRawPointer.allocate(byteCount: max(1, capacity), alignment: 64), false)
        }
    }

    deinit {
        #if canImport(Glibc)
        if mapped { munmap(base, Self.roundedUp(capacity)); return }
        #endif
        base.deallocate()
    }

    func write(_ source: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset + source.count <= capacity, "WeightChunk: write past the end")
        if let s = source.baseAddress, source.count > 0 { base.advanced(by: offset).copyMemory(from: s, byteCount: source.count) }
    }

    static func roundedUp(_ n: Int) -> Int { (n + hugePage - 1) / hugePage * hugePage }

    /// A 2 MB-aligned mapping of `bytes` (rounded up to 2 MB) advised for huge pages before first touch; nil off Linux or on failure.
    private static func mapHuge(_ bytes: Int) -> UnsafeMutableRawPointer? {
        #if canImport(Glibc)
        let size = roundedUp(max(1, bytes))
        guard let raw = mmap(nil, size + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        // Trim to an aligned window: the head before the first 2 MB boundary and the tail after it.
        let address = UInt(bitPattern: raw), aligned = (address + UInt(hugePage) - 1) / UInt(hugePage) * UInt(hugePage)
        let head = Int(aligned - address)
        if head > 0 { munmap(raw, head) }
        if hugePage - head > 0 { munmap(raw.advanced(by: head + size), hugePage - head) }
        let base = raw.advanced(by: head)
        _ = madvise(base, size, MADV_HUGEPAGE)   // advice only: without THP the mapping still works on 4 KB pages
        return base
        #else
        return nil
        #endif
    }
}

/// Packs a device's quantised weights into large huge-page chunks (`WeightChunk`), each weight 64-byte
/// aligned, so the bytes a step streams sit on few, large pages. Chunks grow with the model (2 MB to
/// 64 MB), so a small test model stays small.
final class WeightArena: @unchecked Sendable {
    static let maxChunk = 64 << 20
    private let lock = NSLock()
    private var chunk: WeightChunk?
    private var used = 0
    private var total = 0

    func copy(_ source: UnsafeRawBufferPointer) -> WeightBytes {
        lock.withLock {
            let n = source.count
            if chunk == nil || used + n > chunk!.capacity {
                let size = WeightChunk.roundedUp(max(n, min(Self.maxChunk, max(WeightChunk.hugePage, total))))
                (chunk, used) = (WeightChunk(capacity: size, hugePages: true), 0)
            }
            let offset = used
            chunk!.write(source, at: offset)
            used = (offset + n + 63) / 64 * 64
            total += n
            return WeightBytes(chunk: chunk!, offset: offset, count: n)
        }
    }
}
