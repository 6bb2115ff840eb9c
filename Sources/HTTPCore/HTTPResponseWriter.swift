import Foundation

/// Sends the response to one request. Thread-safe: any thread may call it; every socket operation is
/// forwarded, in call order, to the connection's serial queue.
///
/// Use exactly one of:
/// - `respond(_:body:)` — a fixed-length response; or
/// - `startStreaming(_:)`, any number of `write(_:)`, then `finish()`.
///
/// If the handler drops its last reference before the response is complete, the server answers 500
/// (nothing sent yet) or cuts the connection (mid-stream), so a forgotten writer never hangs a client.
public final class HTTPResponseWriter: @unchecked Sendable {
    let id: UInt64
    /// Shared with the connection, so `onClose` callbacks fire even after the handler dropped the writer.
    let state: ResponseState
    private let connection: HTTPConnection
    private let accounting: OutputAccounting
    /// HTTP/1.1 streams use chunked framing; HTTP/1.0 streams are close-delimited (raw bytes).
    private let chunked: Bool
    /// `nil` when the server does not compress responses.
    private let compression: ResponseCompression?
    /// NOTE: `streamLock` guards `compressor`, and spans compress + reserve + enqueue so concurrent
    /// writers cannot reorder the deflate stream's output.
    private let streamLock = NSLock()
    private var compressor: GzipCompressor?

    init(id: UInt64, connection: HTTPConnection, accounting: OutputAccounting, chunked: Bool,
         compression: ResponseCompression?) {
        self.id = id
        self.state = ResponseState()
        self.connection = connection
        self.accounting = accounting
        self.chunked = chunked
        self.compression = compression
    }

    deinit {
        if !state.isFinished {
            let (connection, id) = (connection, id)
            connection.queue.async { connection.writerAbandoned(id) }
        }
    }

    /// Sends a complete response; `Content-Length` is set from `body` (gzip-compressed when the
    /// request accepts it and the response qualifies, see `HTTPCompressionConfiguration`).
    public func respond(_ head: HTTPResponseHead, body: [UInt8]) {
        guard transition(from: .idle, to: .finished, operation: "respond") else { return }
        var (head, body) = (head, body)
        compression?.apply(to: &head, body: &body)
        let (connection, id) = (connection, id)
        connection.queue.async { [head, body] in connection.respond(writerID: id, head: head, body: body) }
    }

    /// Sends the head of a streamed response: chunked on HTTP/1.1, close-delimited on HTTP/1.0.
    /// The stream is gzip-compressed (flushed per `write`) when it qualifies.
    public func startStreaming(_ head: HTTPResponseHead) {
        guard transition(from: .idle, to: .streaming, operation: "startStreaming") else { return }
        var head = head
        if let compression {
            let compressor = compression.streamCompressor(for: &head)
            streamLock.withLock { self.compressor = compressor }
        }
        let (connection, id) = (connection, id)
        connection.queue.async { [head] in connection.startStreaming(writerID: id, head: head) }
    }

    /// Queues one chunk, flushed as soon as the socket takes it. Empty writes are ignored.
    ///
    /// Returns `.backpressure` when the connection's unsent output is above
    /// `streamHighWaterMark` (the chunk is still queued), and `.closed` if the chunk was not queued.
    /// Output beyond `streamHardLimit` cuts the connection.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> HTTPWriteResult {
        guard state.isStreaming else { return .closed }
        if bytes.isEmpty { return accounting.queuedBytes > accounting.highWaterMark ? .backpressure : .ok }
        guard compression != nil else { return enqueue(bytes, payloadCount: bytes.count) }
        return streamLock.withLock {
            guard let compressor else { return enqueue(bytes, payloadCount: bytes.count) }
            return enqueue(compressor.compressAndFlush(bytes), payloadCount: bytes.count)
        }
    }

    /// Ends a streamed response (gzip trailer, terminating chunk). The connection then serves its next request.
    public func finish() {
        guard transition(from: .streaming, to: .finished, operation: "finish") else { return }
        streamLock.withLock {
            if let compressor {
                _ = enqueue(compressor.finish(), payloadCount: 0)
                self.compressor = nil
            }
        }
        let (connection, id) = (connection, id)
        connection.queue.async { connection.finishStreaming(writerID: id) }
    }

    /// Whether the peer is gone or the connection was closed.
    public var isClosed: Bool {
        state.isClosed || accounting.isClosed
    }

    /// Registers `callback` to run once if the connection dies before the response is finished
    /// (the peer disconnected, a timeout, shutdown, the stream hard limit): the cancellation signal for
    /// the work behind it. Runs immediately if the connection is already closed; never runs once the
    /// response is finished. Callbacks run on an internal queue and must not block.
    public func onClose(_ callback: @escaping @Sendable () -> Void) {
        state.onClose(callback)
    }

    /// Frames `bytes` (a chunk on HTTP/1.1), reserves them against the stream limits and queues them.
    /// `payloadCount` is what the access log counts (the uncompressed size).
    private func enqueue(_ bytes: [UInt8], payloadCount: Int) -> HTTPWriteResult {
        if bytes.isEmpty { return .ok }
        let framed = chunked ? ResponseEncoding.chunk(bytes) : bytes
        let (connection, id) = (connection, id)
        let reservation = accounting.reserve(framed.count)
        switch reservation {
        case .closed:
            return .closed
        case .overLimit:
            connection.queue.async { connection.cutStream(writerID: id) }
            return .closed
        case .ok, .backpressure:
            connection.queue.async { connection.writeBody(writerID: id, framed: framed, payloadCount: payloadCount) }
            return reservation == .ok ? .ok : .backpressure
        }
    }

    private func transition(from expected: ResponseState.Phase, to next: ResponseState.Phase, operation: String) -> Bool {
        let previous = state.transition(from: expected, to: next)
        guard previous == expected else {
            connection.logMisuse("\(operation) called on a response that is \(previous)")
            return false
        }
        return true
    }
}

/// Lifecycle of one response and its close callbacks, shared by the writer (any thread) and the
/// connection (its queue).
///
/// NOTE: `lock` guards every property. Callbacks are collected under the lock and run outside it.
final class ResponseState: @unchecked Sendable {
    enum Phase {
        case idle
        case streaming
        case finished
    }

    private let lock = NSLock()
    private var phase = Phase.idle
    private var closed = false
    private var callbacks: [@Sendable () -> Void] = []

    var isFinished: Bool { lock.withLock { phase == .finished } }
    var isStreaming: Bool { lock.withLock { phase == .streaming && !closed } }
    var isClosed: Bool { lock.withLock { closed } }

    /// Moves to `next` if the phase is `expected`; returns the phase found.
    func transition(from expected: Phase, to next: Phase) -> Phase {
        lock.withLock {
            let previous = phase
            if previous == expected {
                phase = next
                if next == .finished { callbacks = [] }
            }
            return previous
        }
    }

    func onClose(_ callback: @escaping @Sendable () -> Void) {
        let runNow: Bool = lock.withLock {
            if closed { return true }
            if phase != .finished { callbacks.append(callback) }
            return false
        }
        if runNow { callback() }
    }

    /// The connection closed: run the callbacks unless the response had finished.
    func connectionClosed() {
        let pending: [@Sendable () -> Void] = lock.withLock {
            closed = true
            defer { callbacks = [] }
            return phase == .finished ? [] : callbacks
        }
        for callback in pending { callback() }
    }
}
