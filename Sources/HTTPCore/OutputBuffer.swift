import Foundation

/// Bytes queued for the socket but not yet written. Confined to the connection's queue.
struct OutputBuffer {
    private var bytes: [UInt8] = []
    private var offset = 0

    var isEmpty: Bool { offset == bytes.count }
    var count: Int { bytes.count - offset }

    mutating func append(_ data: [UInt8]) {
        if isEmpty, offset > 0 {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            offset = 0
        }
        bytes.append(contentsOf: data)
    }

    /// Calls `body` with the unsent bytes; `body` returns how the write went.
    func withUnsentBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
    }

    mutating func consume(_ n: Int) {
        offset += n
        if isEmpty {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            offset = 0
        } else if offset >= 64 * 1024, offset * 2 >= bytes.count {
            bytes.removeFirst(offset)
            offset = 0
        }
    }
}

/// Connection-wide count of output bytes accepted but not yet written to the socket, shared by the
/// connection (on its queue) and its response writers (on any thread).
///
/// NOTE: `HTTPResponseWriter.write` must answer `.backpressure` synchronously, before its bytes reach
/// the connection's queue, so the count is reserved on the caller's thread under `lock` and released
/// on the queue as the socket takes bytes.
final class OutputAccounting: @unchecked Sendable {
    enum Reservation: Equatable {
        case ok
        case backpressure
        case closed
        /// Above the hard limit: the bytes were not reserved; the stream must be cut.
        case overLimit
    }

    private let lock = NSLock()
    private var queued = 0
    private var closed = false
    let highWaterMark: Int
    let hardLimit: Int

    init(highWaterMark: Int, hardLimit: Int) {
        self.highWaterMark = highWaterMark
        self.hardLimit = hardLimit
    }

    var isClosed: Bool { lock.withLock { closed } }
    var queuedBytes: Int { lock.withLock { queued } }

    /// Reserves `count` bytes of stream output, subject to the hard limit.
    func reserve(_ count: Int) -> Reservation {
        lock.withLock {
            if closed { return .closed }
            if queued + count > hardLimit { return .overLimit }
            queued += count
            return queued > highWaterMark ? .backpressure : .ok
        }
    }

    /// Counts server-generated output (heads, fixed bodies), which is never refused.
    func add(_ count: Int) {
        lock.withLock { queued += count }
    }

    func release(_ count: Int) {
        lock.withLock { queued -= count }
    }

    func markClosed() {
        lock.withLock { closed = true }
    }
}
