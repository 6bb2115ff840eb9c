/// Listening address, limits and timeouts of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable, Equatable {
    /// `"127.0.0.1"`, `"0.0.0.0"`, `"::1"`, `"::"` (dual-stack) or a name such as `"localhost"`.
    public var host: String
    /// TCP port; 0 picks an ephemeral port (returned by `HTTPServer.start()`).
    public var port: Int
    /// `listen(2)` backlog.
    public var backlog: Int32
    /// Open connections beyond this are answered 503 and closed.
    public var maxConnections: Int
    /// Longest request line (method, target, version); longer → 414.
    public var maxRequestLineLength: Int
    /// Size of the header section; larger → 431.
    public var maxHeaderBytes: Int
    /// Number of header fields; more → 431.
    public var maxHeaderCount: Int
    /// Largest request body; larger → 413.
    public var maxBodyBytes: Int
    /// Time allowed from the first byte of a request (or from accept) to the end of its headers.
    /// Slowloris protection: the whole head must arrive in time, however slowly it trickles.
    public var headerTimeout: Duration
    /// Time allowed from the end of the headers to the end of the body.
    public var bodyTimeout: Duration
    /// Time a keep-alive connection may wait for its next request.
    public var idleTimeout: Duration
    /// Time unsent output may wait without the peer reading any of it before the connection is cut.
    public var writeStallTimeout: Duration
    /// Unsent output above which `HTTPResponseWriter.write` answers `.backpressure`.
    public var streamHighWaterMark: Int
    /// Unsent output above which a streaming response is cut (the connection is closed).
    public var streamHardLimit: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        backlog: Int32 = 512,
        maxConnections: Int = 10_000,
        maxRequestLineLength: Int = 8192,
        maxHeaderBytes: Int = 64 * 1024,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 16 * 1024 * 1024,
        headerTimeout: Duration = .seconds(30),
        bodyTimeout: Duration = .seconds(60),
        idleTimeout: Duration = .seconds(75),
        writeStallTimeout: Duration = .seconds(60),
        streamHighWaterMark: Int = 1024 * 1024,
        streamHardLimit: Int = 16 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.backlog = backlog
        self.maxConnections = maxConnections
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.writeStallTimeout = writeStallTimeout
        self.streamHighWaterMark = streamHighWaterMark
        self.streamHardLimit = streamHardLimit
    }

    /// Throws `HTTPServerError.invalidConfiguration` naming the first bad field.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw HTTPServerError.invalidConfiguration(message) }
        }
        try check(!host.isEmpty, "host must not be empty")
        try check((0...65535).contains(port), "port must be in 0...65535")
        try check(backlog > 0, "backlog must be positive")
        try check(maxConnections > 0, "maxConnections must be positive")
        try check(maxRequestLineLength >= 16, "maxRequestLineLength must be at least 16")
        try check(maxHeaderBytes >= 64, "maxHeaderBytes must be at least 64")
        try check(maxHeaderCount > 0, "maxHeaderCount must be positive")
        try check(maxBodyBytes >= 0, "maxBodyBytes must not be negative")
        for (name, timeout) in [("headerTimeout", headerTimeout), ("bodyTimeout", bodyTimeout),
                                ("idleTimeout", idleTimeout), ("writeStallTimeout", writeStallTimeout)] {
            try check(timeout > .zero, "\(name) must be positive")
        }
        try check(streamHighWaterMark > 0, "streamHighWaterMark must be positive")
        try check(streamHardLimit >= streamHighWaterMark, "streamHardLimit must be >= streamHighWaterMark")
    }

    var parserLimits: HTTPParserLimits {
        HTTPParserLimits(
            maxRequestLineLength: maxRequestLineLength, maxHeaderBytes: maxHeaderBytes,
            maxHeaderCount: maxHeaderCount, maxBodyBytes: maxBodyBytes
        )
    }
}

/// Why an `HTTPServer` could not start.
public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// `start()` was called on a server that is running or stopped.
    case alreadyStarted
    /// The host string did not resolve to an address.
    case addressResolution(host: String, reason: String)
    /// A socket call failed; `errno` and its text are included (e.g. `bind` with EADDRINUSE).
    case socket(call: String, host: String, port: Int, errno: Int32, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): "invalid HTTP server configuration: \(message)"
        case .alreadyStarted: "HTTP server already started"
        case .addressResolution(let host, let reason): "cannot resolve listen host '\(host)': \(reason)"
        case .socket(let call, let host, let port, let code, let reason):
            "\(call) failed for \(host):\(port): \(reason) (errno \(code))"
        }
    }
}
