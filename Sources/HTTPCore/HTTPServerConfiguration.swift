/// Listening address, limits and timeouts of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
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
    /// TLS on every connection of this server; `nil` serves plain HTTP.
    public var tls: TLSConfiguration?
    /// gzip for responses. Request bodies with `Content-Encoding: gzip` are always accepted, and their
    /// decompressed size is held to `maxBodyBytes` (413 beyond).
    public var compression: HTTPCompressionConfiguration
    /// Added to the responses the server sends on its own (parse errors, 413, 408, 415), which no handler sees:
    /// e.g. CORS headers, without which a browser cannot read why its request was refused.
    public var errorHeaders: HTTPHeaders = [:]
    /// The body of such a response, given the request's path (when its request line was read), status, message and
    /// error type: an API whose clients read another error shape than OpenAI's (Anthropic's routes) answers in its
    /// own. nil, or a nil result: OpenAI's shape.
    public var errorBody: (@Sendable (_ path: String?, _ status: Int, _ message: String, _ type: String) -> [UInt8]?)?

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
        streamHardLimit: Int = 16 * 1024 * 1024,
        tls: TLSConfiguration? = nil,
        compression: HTTPCompressionConfiguration = HTTPCompressionConfiguration()
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
        self.tls = tls
        self.compression = compression
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
        if let tls {
            try check(!tls.certificateChainPath.isEmpty, "tls.certificateChainPath must not be empty")
            try check(!tls.privateKeyPath.isEmpty, "tls.privateKeyPath must not be empty")
        }
        try check((1...9).contains(compression.level), "compression.level must be in 1...9")
        try check(compression.minimumBodyBytes >= 0, "compression.minimumBodyBytes must not be negative")
    }

    var parserLimits: HTTPParserLimits {
        HTTPParserLimits(
            maxRequestLineLength: maxRequestLineLength, maxHeaderBytes: maxHeaderBytes,
            maxHeaderCount: maxHeaderCount, maxBodyBytes: maxBodyBytes
        )
    }
}

/// PEM files for TLS. The server speaks TLS 1.2 and 1.3 with forward-secret AEAD ciphers and
/// negotiates ALPN `http/1.1`.
public struct TLSConfiguration: Sendable, Equatable {
    /// The certificate, followed by any intermediates (leaf first).
    public var certificateChainPath: String
    /// The certificate's private key (unencrypted PEM).
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }
}

/// When responses are gzip-compressed: the client accepts gzip (`Accept-Encoding`, honouring `q=0`),
/// the content type is textual (`text/*`, JSON, XML, JavaScript, NDJSON) and the response carries no
/// `Content-Encoding` or `Cache-Control: no-transform`. Such responses also get `Vary: Accept-Encoding`.
public struct HTTPCompressionConfiguration: Sendable, Equatable {
    /// Whether responses may be compressed at all.
    public var enabled: Bool
    /// Fixed-length bodies smaller than this are sent as they are (gzip's ~20-byte frame would not pay).
    /// Streamed bodies have no known size and are compressed regardless.
    public var minimumBodyBytes: Int
    /// zlib level, 1 (fastest) ... 9 (smallest).
    public var level: Int
    /// Also compress `text/event-stream`. Off by default: each event is flushed on its own, which
    /// saves little, and a deflate stream holds ~256 KiB per open SSE connection.
    public var compressEventStreams: Bool

    public init(enabled: Bool = true, minimumBodyBytes: Int = 1024, level: Int = 6, compressEventStreams: Bool = false) {
        self.enabled = enabled
        self.minimumBodyBytes = minimumBodyBytes
        self.level = level
        self.compressEventStreams = compressEventStreams
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
    /// The TLS context could not be built (unreadable certificate or key, key mismatch), with OpenSSL's reason.
    case tls(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): "invalid HTTP server configuration: \(message)"
        case .alreadyStarted: "HTTP server already started"
        case .addressResolution(let host, let reason): "cannot resolve listen host '\(host)': \(reason)"
        case .socket(let call, let host, let port, let code, let reason):
            "\(call) failed for \(host):\(port): \(reason) (errno \(code))"
        case .tls(let reason): "TLS setup failed: \(reason)"
        }
    }
}
