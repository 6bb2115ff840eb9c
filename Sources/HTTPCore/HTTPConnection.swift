import Dispatch
import Logging

/// One client connection: reads and parses requests, runs the handler, writes responses, enforces
/// timeouts. Responses are produced by `HTTPConnection+Response.swift`.
///
/// NOTE: Every mutable property is confined to `queue`, a serial queue per connection; other threads
/// (response writers, the server, Dispatch sources) only reach it through `queue.async` or handlers
/// that run on `queue`. Hence `@unchecked Sendable`. Socket code never waits on a handler and a
/// handler never waits on the socket.
final class HTTPConnection: @unchecked Sendable {
    enum Phase: Equatable {
        /// Waiting for (the rest of) a request head.
        case readingHead
        case readingBody
        /// The handler owns the request; input is buffered, not parsed (pipelining is sequential).
        case responding
        /// No more requests: flush output, send FIN, drain input until EOF or the linger deadline.
        case closing
        case closed
    }

    /// The request being answered.
    struct Exchange {
        let writerID: UInt64
        let response: ResponseState
        let method: String
        let path: String
        let requestID: String
        let version: HTTPVersion
        let requestKeepAlive: Bool
        let start: ContinuousClock.Instant
        var status = 0
        var bodyBytes = 0
        var headSent = false
        var chunked = false
        var dropsBody = false
        var closeAfter = false
    }

    let queue: DispatchQueue
    let id: Int
    let remoteAddress: String
    let configuration: HTTPServerConfiguration
    var logger: Logger
    let handler: HTTPHandler
    let handlerQueue: DispatchQueue
    let accessObserver: HTTPAccessObserver?
    let accounting: OutputAccounting
    private let transport: Transport
    private let onClosed: @Sendable (HTTPConnection) -> Void

    var phase = Phase.readingHead
    var parser: HTTPParser
    var deadlines: ConnectionDeadlines
    var exchange: Exchange?
    var draining = false
    /// When the first byte of the current request arrived (the access log's duration starts there).
    var requestStartedAt: ContinuousClock.Instant?
    var output = OutputBuffer()
    var dateHeader = DateHeaderCache()
    private var nextWriterID: UInt64 = 0
    private var sentFIN = false

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var readSuspended = false
    private var writeSuspended = true
    private var armedDeadline: ContinuousClock.Instant?
    private var pendingCancellations = 0

    /// Pipelined input buffered while a response is in flight; beyond it reading pauses.
    private var pipelineBufferLimit: Int {
        configuration.maxRequestLineLength + configuration.maxHeaderBytes + 64 * 1024
    }

    init(
        id: Int, transport: Transport, remoteAddress: String, configuration: HTTPServerConfiguration,
        logger: Logger, handler: @escaping HTTPHandler, handlerQueue: DispatchQueue,
        accessObserver: HTTPAccessObserver? = nil, onClosed: @escaping @Sendable (HTTPConnection) -> Void
    ) {
        self.accessObserver = accessObserver
        self.id = id
        self.transport = transport
        self.remoteAddress = remoteAddress
        self.configuration = configuration
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(id)"
        self.handler = handler
        self.handlerQueue = handlerQueue
        self.onClosed = onClosed
        self.queue = DispatchQueue(label: "moeserve.http.connection")
        self.accounting = OutputAccounting(
            highWaterMark: configuration.streamHighWaterMark, hardLimit: configuration.streamHardLimit
        )
        self.parser = HTTPParser(limits: configuration.parserLimits)
        self.deadlines = ConnectionDeadlines(timeouts: .init(
            header: configuration.headerTimeout, body: configuration.bodyTimeout,
            idle: configuration.idleTimeout, writeStall: configuration.writeStallTimeout
        ))
    }

    /// Starts reading. Call once, from any thread.
    func start() {
        queue.async { [self] in
            guard phase != .closed else { return }
            let fd = transport.fileDescriptor
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            read.setEventHandler { [unowned self] in handleReadable() }
            let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            write.setEventHandler { [unowned self] in handleWritable() }
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [unowned self] in handleTimer() }
            timer.schedule(deadline: .distantFuture)
            // The cancel handlers keep `self` alive until the descriptor is closed.
            for source in [read, write, timer] as [DispatchSourceProtocol] {
                pendingCancellations += 1
                source.setCancelHandler { self.sourceCancelled() }
            }
            (readSource, writeSource, self.timer) = (read, write, timer)
            read.resume()
            timer.resume()
            deadlines.awaitRequest(now: .now, freshConnection: true)
            rearmTimer()
        }
    }

    /// Graceful shutdown: finish the current request (answered with `Connection: close`), read no more.
    func beginDrain() {
        queue.async { [self] in
            draining = true
            if phase == .readingHead, !parser.hasPartialRequest { close(reason: "shutdown") }
        }
    }

    /// End of the grace period: close now, firing `onClose` for an unfinished response.
    func forceClose() {
        queue.async { [self] in close(reason: "shutdown deadline") }
    }

    // MARK: - Input

    private func handleWritable() {
        if transport.readNeedsWritable { handleReadable() }
        flush()
    }

    private func handleReadable() {
        guard phase != .closed else { return }
        // A TLS write waiting for the peer's bytes resumes now (OpenSSL reads what it needs).
        if transport.writeNeedsReadable {
            flush()
            guard phase != .closed else { return }
        }
        var received = false
        var peerClosed: String?
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { buffer in
            for _ in 0..<16 {
                switch transport.read(into: buffer) {
                case .bytes(let n):
                    received = true
                    if phase != .closing { parser.feed(UnsafeRawBufferPointer(rebasing: buffer[..<n])) }
                    if phase == .responding, parser.bufferedByteCount > pipelineBufferLimit {
                        suspendReading()
                        return
                    }
                case .wouldBlock: return
                case .eof: peerClosed = "peer closed"; return
                case .failed(let code): peerClosed = "read failed: \(Socket.describeErrno(code))"; return
                case .tlsFailure(let reason):
                    logger.debug("TLS failure; closing connection", metadata: [
                        "remote": "\(remoteAddress)", "error": "\(reason)",
                    ])
                    peerClosed = reason
                    return
                }
            }
        }
        // A TLS handshake reply that did not fit the socket: continue once it is writable.
        if transport.readNeedsWritable { resumeWriteSource() }
        if received, phase == .readingHead {
            if requestStartedAt == nil { requestStartedAt = .now }
            deadlines.requestBytesArrived(now: .now)
            rearmTimer()
        }
        processInput()
        if let peerClosed, phase != .closed { close(reason: peerClosed) }
    }

    /// Pulls parser events while a request is being read; stops once the handler has one.
    func processInput() {
        while phase == .readingHead || phase == .readingBody {
            guard let event = parser.next() else { return }
            switch event {
            case .head(let head):
                if head.framing != .none, head.framing != .length(0), let coding = unsupportedContentCoding(head) {
                    sendError(status: 415, message: "Content-Encoding '\(coding)' is not supported; use gzip",
                              request: head, extraHeaders: ["Accept-Encoding": "gzip"])
                    return
                }
                if head.framing != .none, head.framing != .length(0) {
                    phase = .readingBody
                    deadlines.headReceived(now: .now, hasBody: true)
                    rearmTimer()
                }
                if head.expectsContinue {
                    enqueue(ResponseEncoding.continueResponse)
                    flush()
                }
            case .request(let head, let body, let trailers):
                startExchange(head: head, body: body, trailers: trailers)
            case .error(let error):
                sendError(status: error.status, message: error.message)
            }
        }
    }

    /// The request's content coding if it is not one we decode (only gzip is), else `nil`.
    private func unsupportedContentCoding(_ head: HTTPRequestHead) -> String? {
        let codings = ContentCoding.requestCodings(head.headers)
        guard let first = codings.first else { return nil }
        if codings.count == 1, first == "gzip" || first == "x-gzip" { return nil }
        return codings.joined(separator: ", ")
    }

    /// Hands a complete request to the handler on the handler queue (gzip bodies decoded first).
    private func startExchange(head: HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders) {
        var (head, body) = (head, body)
        if head.headers.contains("Content-Encoding"), !ContentCoding.requestCodings(head.headers).isEmpty {
            switch GzipDecoder.decompress(body, limit: configuration.maxBodyBytes) {
            case .success(let decoded): body = decoded
            case .failure(.tooLarge):
                return sendError(status: 413, message: "Request body is too large once decompressed", request: head)
            case .failure(.corrupt):
                return sendError(status: 400, message: "Request body is not valid gzip", request: head)
            }
            head.headers.remove("Content-Encoding")
            if head.headers.contains("Content-Length") { head.headers.replaceOrAdd("Content-Length", String(body.count)) }
        }
        phase = .responding
        deadlines.requestReceived()
        rearmTimer()
        nextWriterID += 1
        let requestID = RequestID.accept(head.headers["X-Request-Id"]) ?? RequestID.generate()
        let request = HTTPRequest(
            method: head.method, target: head.target, version: head.version, headers: head.headers,
            body: body, remoteAddress: remoteAddress, trailers: trailers, requestID: requestID
        )
        let writer = HTTPResponseWriter(
            id: nextWriterID, connection: self, accounting: accounting, chunked: head.version == .http1_1,
            compression: ResponseCompression(
                configuration: configuration.compression, acceptEncoding: head.headers["Accept-Encoding"]
            )
        )
        exchange = Exchange(
            writerID: nextWriterID, response: writer.state, method: head.method, path: request.path,
            requestID: requestID, version: head.version, requestKeepAlive: head.keepAlive,
            start: requestStartedAt ?? .now
        )
        requestStartedAt = nil
        let handler = handler
        handlerQueue.async { handler(request, writer) }
    }

    /// After a response completes: serve the next (possibly already buffered) request.
    func awaitNextRequest() {
        phase = .readingHead
        deadlines.awaitRequest(now: .now, freshConnection: false)
        if parser.hasPartialRequest {
            requestStartedAt = .now
            deadlines.requestBytesArrived(now: .now)
        }
        rearmTimer()
        resumeReading()
        processInput()
    }

    // MARK: - Output

    /// Queues connection-generated bytes (counted against the stream limits but never refused).
    func enqueue(_ bytes: [UInt8]) {
        accounting.add(bytes.count)
        output.append(bytes)
    }

    /// Queues bytes already reserved by a writer.
    func enqueueReserved(_ bytes: [UInt8]) {
        output.append(bytes)
    }

    /// Writes as much queued output as the socket takes; arms the write source for the rest.
    func flush() {
        guard phase != .closed else { return }
        var progressed = false
        while !output.isEmpty {
            switch output.withUnsentBytes({ transport.write($0) }) {
            case .bytes(let n):
                output.consume(n)
                accounting.release(n)
                progressed = true
            case .wouldBlock:
                // A TLS write waiting for the peer's bytes is resumed by the read source instead.
                if !transport.writeNeedsReadable { resumeWriteSource() }
                deadlines.outputBlocked(now: .now, madeProgress: progressed)
                rearmTimer()
                return
            case .eof:
                return close(reason: "peer closed")
            case .failed(let code):
                return close(reason: "write failed: \(Socket.describeErrno(code))")
            case .tlsFailure(let reason):
                return close(reason: reason)
            }
        }
        if !transport.readNeedsWritable { suspendWriteSource() }
        if deadlines.writeStall != nil {
            deadlines.outputDrained()
            rearmTimer()
        }
        if phase == .closing, !sentFIN {
            sentFIN = true
            transport.shutdownWrite()
            deadlines.lingering(now: .now)
            rearmTimer()
        }
    }

    /// Stop serving requests: flush what is queued, then FIN and linger (see `Phase.closing`).
    func closeAfterFlush() {
        phase = .closing
        deadlines.stopReading()
        rearmTimer()
        resumeReading()
        flush()
    }

    // MARK: - Timeouts

    private func handleTimer() {
        armedDeadline = nil
        guard phase != .closed else { return }
        switch deadlines.expired(at: .now) {
        case nil:
            break
        case .idle:
            close(reason: "idle timeout")
        case .header:
            if parser.hasPartialRequest {
                logger.debug("request head timed out", metadata: ["remote": "\(remoteAddress)"])
                sendError(status: 408, message: "Timed out waiting for the request headers")
            } else {
                close(reason: "header timeout")
            }
        case .body:
            sendError(status: 408, message: "Timed out waiting for the request body")
        case .writeStall:
            logger.warning("write stalled; closing connection", metadata: ["remote": "\(remoteAddress)"])
            close(reason: "write stall timeout")
        case .linger:
            close(reason: "linger done")
        }
        rearmTimer()
    }

    /// Arms the timer for the earliest deadline.
    ///
    /// NOTE: A later (or no) deadline leaves an armed timer alone: deadlines move later on every
    /// keep-alive request, and re-scheduling a Dispatch timer each time costs more than the occasional
    /// early wake-up, after which `handleTimer` finds nothing expired and arms the real deadline.
    func rearmTimer() {
        guard let timer, phase != .closed, let next = deadlines.next else { return }
        if let armedDeadline, armedDeadline <= next { return }
        armedDeadline = next
        let delay = ContinuousClock.now.duration(to: next)
        timer.schedule(deadline: .now() + .nanoseconds(max(delay.nanosecondsClamped, 0)))
    }

    // MARK: - Closing

    /// Closes at once; an unfinished response's `onClose` callbacks fire. Idempotent.
    func close(reason: String) {
        guard phase != .closed else { return }
        phase = .closed
        accounting.markClosed()
        if var exchange {
            // A request its client left before any response head: 499 (nginx's "client closed request") in the
            // access log and the status metrics, rather than 0.
            let clientLeft = reason == "peer closed" || reason.hasPrefix("read failed") || reason.hasPrefix("write failed")
            if exchange.status == 0, clientLeft { exchange.status = 499 }
            logAccess(exchange, outcome: "aborted: \(reason)")
            self.exchange = nil
            exchange.response.connectionClosed()
        }
        logger.trace("connection closed", metadata: ["reason": "\(reason)"])
        // Suspended sources must be resumed before cancellation or Dispatch traps on release.
        resumeReading()
        resumeWriteSource()
        readSource?.cancel()
        writeSource?.cancel()
        timer?.cancel()
        if readSource == nil { finishClose() }
    }

    private func sourceCancelled() {
        pendingCancellations -= 1
        if pendingCancellations == 0 { finishClose() }
    }

    private func finishClose() {
        (readSource, writeSource, timer) = (nil, nil, nil)
        transport.close()
        onClosed(self)
    }

    private func suspendReading() {
        guard !readSuspended, let readSource else { return }
        readSuspended = true
        readSource.suspend()
    }

    private func resumeReading() {
        guard readSuspended, let readSource else { return }
        readSuspended = false
        readSource.resume()
    }

    private func resumeWriteSource() {
        guard writeSuspended, let writeSource else { return }
        writeSuspended = false
        writeSource.resume()
    }

    private func suspendWriteSource() {
        guard !writeSuspended, let writeSource else { return }
        writeSuspended = true
        writeSource.suspend()
    }
}
