import Dispatch
import Foundation
import Logging

/// Handles one request. Called on a handler queue, never on a socket queue; it may return before
/// responding (answering asynchronously through the writer is the normal case).
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponseWriter) -> Void

/// Told of every answered request, beside its access-log line: method, path, status and seconds from
/// the first byte of the request to the end of the response (metrics hook; must not block).
public typealias HTTPAccessObserver = @Sendable (_ method: String, _ path: String, _ status: Int, _ seconds: Double) -> Void

/// An HTTP/1.1 server on non-blocking BSD sockets and Dispatch: one serial queue per connection,
/// Dispatch read/write sources for readiness, no thread per connection.
///
/// Lifecycle: `start()` → serve → `shutdown(gracePeriod:)` → `waitUntilStopped()` returns once the
/// listener and every connection are closed.
public final class HTTPServer: @unchecked Sendable {
    private enum State {
        case idle
        case running
        case draining
        case stopped
    }

    public let configuration: HTTPServerConfiguration
    private let logger: Logger
    private let handler: HTTPHandler
    private let accessObserver: HTTPAccessObserver?
    private let acceptQueue = DispatchQueue(label: "moeserve.http.accept")
    /// Handlers may block briefly (e.g. submitting to the engine); they never run on socket queues.
    private let handlerQueue = DispatchQueue(label: "moeserve.http.handler", attributes: .concurrent)

    // NOTE: `condition` (a lock) guards everything below; connections call back from their own queues.
    private let condition = NSCondition()
    private var state = State.idle
    private var listenerFD: Int32 = -1
    private var listenerOpen = false
    private var acceptSource: DispatchSourceRead?
    private var acceptSuspended = false
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var nextConnectionID = 0
    private var drainDeadline: DispatchTime?
    private var tlsContext: TLSContext?

    public init(configuration: HTTPServerConfiguration, logger: Logger, accessObserver: HTTPAccessObserver? = nil,
                handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.logger = logger
        self.accessObserver = accessObserver
        self.handler = handler
    }

    /// Binds and listens; returns the bound port (the ephemeral one when `port` is 0).
    /// Throws `HTTPServerError` (e.g. `.socket(call: "bind", ... EADDRINUSE ...)`).
    public func start() throws -> Int {
        try configuration.validate()
        condition.lock()
        defer { condition.unlock() }
        guard state == .idle else { throw HTTPServerError.alreadyStarted }
        tlsContext = try configuration.tls.map(TLSContext.init)
        let (fd, port) = try Socket.makeListener(
            host: configuration.host, port: configuration.port, backlog: configuration.backlog
        )
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [unowned self] in acceptPending() }
        source.setCancelHandler { [self] in
            Socket.closeDescriptor(fd)
            condition.withLock {
                listenerOpen = false
                checkStopped()
            }
        }
        (listenerFD, listenerOpen, acceptSource, state) = (fd, true, source, .running)
        source.resume()
        logger.info("HTTP server listening", metadata: [
            "host": "\(configuration.host)", "port": "\(port)", "tls": "\(tlsContext != nil)",
        ])
        return port
    }

    /// Stops accepting, lets in-flight requests finish until `gracePeriod` has passed, then closes every
    /// connection (firing `onClose` for unfinished responses). Idle keep-alive connections close at once.
    /// Returns immediately; use `waitUntilStopped()` to wait. Calling it again can only shorten the deadline.
    public func shutdown(gracePeriod: Duration) {
        let deadline = DispatchTime.now() + .nanoseconds(gracePeriod.nanosecondsClamped)
        let toDrain: [HTTPConnection] = condition.withLock {
            switch state {
            case .idle:
                state = .stopped
                condition.broadcast()
                return []
            case .stopped:
                return []
            case .draining:
                if let drainDeadline, drainDeadline <= deadline { return [] }
                drainDeadline = deadline
                return []
            case .running:
                state = .draining
                drainDeadline = deadline
                resumeAcceptSource()
                acceptSource?.cancel()
                acceptSource = nil
                return Array(connections.values)
            }
        }
        guard condition.withLock({ drainDeadline == deadline }) else { return }
        if !toDrain.isEmpty { logger.info("HTTP server draining", metadata: ["connections": "\(toDrain.count)"]) }
        for connection in toDrain { connection.beginDrain() }
        DispatchQueue.global().asyncAfter(deadline: deadline) { [self] in
            let remaining: [HTTPConnection] = condition.withLock {
                drainDeadline == deadline ? Array(connections.values) : []
            }
            for connection in remaining { connection.forceClose() }
        }
    }

    /// Blocks until the server has stopped (returns at once if it never started).
    public func waitUntilStopped() {
        condition.lock()
        defer { condition.unlock() }
        while state == .running || state == .draining { condition.wait() }
    }

    /// Open connections (for tests and metrics).
    public var connectionCount: Int {
        condition.withLock { connections.count }
    }

    // MARK: - Accepting

    /// Runs on `acceptQueue`. Accepts a bounded batch so a flood cannot starve other work.
    private func acceptPending() {
        for _ in 0..<64 {
            let listener = condition.withLock { state == .running ? listenerFD : -1 }
            guard listener >= 0 else { return }
            switch Socket.acceptConnection(on: listener) {
            case .accepted(let fd, let remote):
                register(fd: fd, remoteAddress: remote)
            case .wouldBlock:
                return
            case .retry:
                continue
            case .failed(let code):
                logger.error("accept failed", metadata: ["error": "\(Socket.describeErrno(code))"])
                if code == EMFILE || code == ENFILE { pauseAccepting() }
                return
            }
        }
    }

    private func register(fd: Int32, remoteAddress: String) {
        enum Admission { case admitted(HTTPConnection), overCapacity, stopping, noTransport }
        let admission: Admission = condition.withLock {
            // Checked under the lock that `shutdown` takes, so no connection slips past the drain.
            guard state == .running else { return .stopping }
            guard connections.count < configuration.maxConnections else { return .overCapacity }
            guard let transport = makeTransport(fd) else { return .noTransport }
            nextConnectionID += 1
            let connection = HTTPConnection(
                id: nextConnectionID, transport: transport, remoteAddress: remoteAddress,
                configuration: configuration, logger: logger, handler: handler, handlerQueue: handlerQueue,
                accessObserver: accessObserver,
                onClosed: { [weak self] in self?.connectionClosed($0) }
            )
            connections[ObjectIdentifier(connection)] = connection
            return .admitted(connection)
        }
        switch admission {
        case .admitted(let connection):
            connection.start()
        case .overCapacity where tlsContext != nil:
            // A plain-text 503 would be garbage to a TLS client, and a handshake here could block.
            logger.warning("connection limit reached; closing", metadata: ["remote": "\(remoteAddress)"])
            Socket.closeDescriptor(fd)
        case .overCapacity:
            logger.warning("connection limit reached; answering 503", metadata: ["remote": "\(remoteAddress)"])
            rejectOverCapacity(fd: fd)
        case .noTransport:
            logger.error("cannot create a TLS session; closing", metadata: ["remote": "\(remoteAddress)"])
            Socket.closeDescriptor(fd)
        case .stopping:
            Socket.closeDescriptor(fd)
        }
    }

    private func makeTransport(_ fd: Int32) -> Transport? {
        guard let tlsContext else { return SocketTransport(fileDescriptor: fd) }
        return tlsContext.makeTransport(fileDescriptor: fd)
    }

    /// Best effort on a fresh socket (its send buffer is empty): drain what the client sent, so closing
    /// does not reset the connection before it reads the answer, then 503 and close.
    private func rejectOverCapacity(fd: Int32) {
        let body = ResponseEncoding.errorBody(message: "The server is overloaded; retry later", type: "server_error")
        let head = ResponseEncoding.head(status: 503, headers: [
            "Content-Type": "application/json", "Content-Length": String(body.count), "Connection": "close",
            "Retry-After": "1", "Server": "moeserve",
        ])
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { buffer in
            _ = Socket.receive(fd, into: buffer)
        }
        (head + body).withUnsafeBytes { _ = Socket.send(fd, $0) }
        Socket.shutdownWrite(fd)
        Socket.closeDescriptor(fd)
    }

    /// Out of descriptors: the listener stays readable, so pause instead of spinning.
    private func pauseAccepting() {
        condition.withLock {
            guard let acceptSource, !acceptSuspended else { return }
            acceptSuspended = true
            acceptSource.suspend()
        }
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            condition.withLock { resumeAcceptSource() }
        }
    }

    /// Call with `condition` held. A suspended source must be resumed before it is cancelled or released.
    private func resumeAcceptSource() {
        guard acceptSuspended else { return }
        acceptSuspended = false
        acceptSource?.resume()
    }

    private func connectionClosed(_ connection: HTTPConnection) {
        condition.withLock {
            connections[ObjectIdentifier(connection)] = nil
            checkStopped()
        }
    }

    /// Call with `condition` held.
    private func checkStopped() {
        if state == .draining, !listenerOpen, connections.isEmpty {
            state = .stopped
            condition.broadcast()
            logger.info("HTTP server stopped")
        }
    }
}
