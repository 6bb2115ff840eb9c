/// Limits the parser enforces; each breach maps to a standard status code.
struct HTTPParserLimits: Sendable, Equatable {
    /// Request line length without CRLF; longer → 414.
    var maxRequestLineLength = 8192
    /// Bytes of the header section (and of chunked trailers, counted together); more → 431.
    var maxHeaderBytes = 64 * 1024
    /// Header fields (plus trailer fields); more → 431.
    var maxHeaderCount = 100
    /// Decoded body bytes; more → 413.
    var maxBodyBytes = 16 * 1024 * 1024
    /// A chunk-size line (hex size plus extensions); longer → 400.
    var maxChunkLineLength = 4096
}

/// How the body of a request is delimited.
enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int)
    case chunked
}

/// The validated head of a request, produced before its body is read.
struct HTTPRequestHead: Sendable, Equatable {
    var method: String
    var target: String
    var version: HTTPVersion
    var headers: HTTPHeaders
    var framing: BodyFraming
    /// Whether the connection may be reused after this request (version default plus `Connection`).
    var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body: send `100 Continue` before reading it.
    var expectsContinue: Bool
}

/// A request the server refuses; `status` is the answer (400, 413, 414, 417, 431, 501, 505).
struct HTTPParseError: Error, Sendable, Equatable {
    var status: Int
    var message: String
}

/// What the parser found in the bytes fed so far.
enum HTTPParserEvent: Sendable, Equatable {
    /// Headers complete and valid; the body (if any) follows.
    case head(HTTPRequestHead)
    /// The request is complete. Always preceded by `.head` for the same request.
    case request(HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders)
    /// The request is invalid. Terminal: the connection must answer `status` and close.
    case error(HTTPParseError)
}

/// A pure, incremental HTTP/1.x request parser.
///
/// Feed bytes split anywhere (one at a time works) with `feed(_:)`; pull events with `next()`,
/// which returns `nil` when it needs more bytes. Parsing is pull-driven so a connection can stop
/// pulling while a response is in flight and keep pipelined bytes buffered for later.
///
/// NOTE: Framing is strict on purpose (request smuggling): `Content-Length` together with
/// `Transfer-Encoding`, differing or malformed `Content-Length`, obs-fold, whitespace before the colon
/// and bare CR are all rejected with 400. A bare LF is accepted as a line end (RFC 9112 §2.2).
struct HTTPParser: Sendable {
    private enum State: Sendable, Equatable {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    private enum Line {
        case line(Range<Int>, consumed: Int)
        case needMore
        case tooLong
        case bareCR
    }

    let limits: HTTPParserLimits
    private var state = State.requestLine
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Where the search for the next LF resumes, so byte-at-a-time feeding stays linear.
    private var scanIndex = 0

    // The message being parsed.
    private var requestLine: (method: String, target: String, version: HTTPVersion)?
    private var headers = HTTPHeaders()
    private var head: HTTPRequestHead?
    private var headerBytes = 0
    private var headerCount = 0
    private var leadingEmptyLineBytes = 0
    private var body: [UInt8] = []
    private var trailers = HTTPHeaders()

    init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet consumed by `next()`.
    var bufferedByteCount: Int { buffer.count - readIndex }

    /// Whether part of a request has been received (bytes buffered or a message under way).
    var hasPartialRequest: Bool { state != .requestLine || bufferedByteCount > 0 }

    /// Method and target of the request under way, once its request line has been read (error logs).
    var currentRequestLine: (method: String, target: String)? {
        requestLine.map { ($0.method, $0.target) }
    }

    /// Appends received bytes.
    mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Parses as far as the buffered bytes allow and returns the next event, or `nil` for "need more".
    mutating func next() -> HTTPParserEvent? {
        while true {
            let step: Step
            switch state {
            case .failed(let error): return .error(error)
            case .requestLine: step = stepRequestLine()
            case .headers: step = stepField(isTrailer: false)
            case .trailers: step = stepField(isTrailer: true)
            case .body(let remaining): step = remaining == 0 ? .emit(complete()) : stepBody(remaining)
            case .chunkSize: step = stepChunkSize()
            case .chunkData(let remaining): step = stepChunkData(remaining)
            case .chunkDataEnd: step = stepChunkDataEnd()
            }
            switch step {
            case .emit(let event): return event
            case .needMore: return nil
            case .proceed: continue
            }
        }
    }

    // MARK: - States

    private enum Step {
        case emit(HTTPParserEvent)
        case needMore
        case proceed
    }

    private mutating func stepRequestLine() -> Step {
        switch takeLine(limit: limits.maxRequestLineLength) {
        case .needMore: return .needMore
        case .tooLong: return fail(414, "Request line is too long")
        case .bareCR: return fail(400, "Bare CR in request line")
        case .line(let range, let consumed):
            if range.isEmpty {
                // RFC 9112 §2.2: ignore empty lines before the request line (bounded).
                leadingEmptyLineBytes += consumed
                return leadingEmptyLineBytes > limits.maxRequestLineLength
                    ? fail(400, "Too many empty lines before the request line") : .proceed
            }
            if let error = parseRequestLine(range) { return fail(error) }
            state = .headers
            return .proceed
        }
    }

    /// One header or trailer line; the empty line ends the section.
    private mutating func stepField(isTrailer: Bool) -> Step {
        let remaining = limits.maxHeaderBytes - headerBytes
        switch takeLine(limit: max(remaining - 2, 0)) {
        case .needMore: return .needMore
        case .tooLong: return fail(431, "Request header fields are too large")
        case .bareCR: return fail(400, "Bare CR in header section")
        case .line(let range, let consumed):
            headerBytes += consumed
            if headerBytes > limits.maxHeaderBytes { return fail(431, "Request header fields are too large") }
            if !range.isEmpty {
                if let error = parseField(range, intoTrailers: isTrailer) { return fail(error) }
                return .proceed
            }
            if isTrailer { return .emit(complete()) }
            switch validateHead() {
            case .failure(let error):
                return fail(error)
            case .success(let head):
                self.head = head
                switch head.framing {
                case .none: state = .body(remaining: 0)
                case .length(let n):
                    state = .body(remaining: n)
                    body.reserveCapacity(min(n, 1 << 20))
                case .chunked: state = .chunkSize
                }
                return .emit(.head(head))
            }
        }
    }

    private mutating func stepBody(_ remaining: Int) -> Step {
        let n = takeBodyBytes(upTo: remaining)
        guard n > 0 else { return .needMore }
        state = .body(remaining: remaining - n)
        return .proceed
    }

    private mutating func stepChunkSize() -> Step {
        switch takeLine(limit: limits.maxChunkLineLength) {
        case .needMore: return .needMore
        case .tooLong: return fail(400, "Chunk size line is too long")
        case .bareCR: return fail(400, "Bare CR in chunk size line")
        case .line(let range, _):
            switch parseChunkSize(range) {
            case .failure(let error): return fail(error)
            case .success(0): state = .trailers
            case .success(let size): state = .chunkData(remaining: size)
            }
            return .proceed
        }
    }

    private mutating func stepChunkData(_ remaining: Int) -> Step {
        let n = takeBodyBytes(upTo: remaining)
        guard n > 0 else { return .needMore }
        state = remaining == n ? .chunkDataEnd : .chunkData(remaining: remaining - n)
        return .proceed
    }

    private mutating func stepChunkDataEnd() -> Step {
        switch takeLine(limit: 0) {
        case .needMore: return .needMore
        case .line(let range, _) where range.isEmpty:
            state = .chunkSize
            return .proceed
        default: return fail(400, "Chunk data is not followed by CRLF")
        }
    }

    /// Moves up to `limit` buffered bytes into the body; returns how many.
    private mutating func takeBodyBytes(upTo limit: Int) -> Int {
        let n = min(limit, bufferedByteCount)
        body.append(contentsOf: buffer[readIndex..<readIndex + n])
        consume(n)
        return n
    }

    // MARK: - Lines

    /// Finds the next line (without its CRLF / LF). `limit` bounds its length excluding the line end.
    private mutating func takeLine(limit: Int) -> Line {
        let end = buffer.count
        var index = max(scanIndex, readIndex)
        while index < end, buffer[index] != 10 { index += 1 }
        guard index < end else {
            scanIndex = end
            return end - readIndex > limit + 1 ? .tooLong : .needMore
        }
        var lineEnd = index
        if lineEnd > readIndex, buffer[lineEnd - 1] == 13 { lineEnd -= 1 }
        guard lineEnd - readIndex <= limit else { return .tooLong }
        if buffer[readIndex..<lineEnd].contains(13) { return .bareCR }
        let range = readIndex..<lineEnd
        let consumed = index + 1 - readIndex
        consume(consumed)
        return .line(range, consumed: consumed)
    }

    private mutating func consume(_ count: Int) {
        readIndex += count
        scanIndex = max(scanIndex, readIndex)
    }

    private mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else if readIndex >= 4096, readIndex * 2 >= buffer.count {
            buffer.removeFirst(readIndex)
        } else {
            return
        }
        scanIndex -= readIndex
        readIndex = 0
    }

    // MARK: - Request line and fields

    private mutating func parseRequestLine(_ range: Range<Int>) -> HTTPParseError? {
        let parts = buffer[range].split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return HTTPParseError(status: 400, message: "Malformed request line")
        }
        guard parts[0].allSatisfy(HTTPSyntax.isTokenByte) else {
            return HTTPParseError(status: 400, message: "Invalid method")
        }
        guard parts[1].allSatisfy({ $0 > 32 && $0 != 127 }) else {
            return HTTPParseError(status: 400, message: "Invalid request target")
        }
        let version: HTTPVersion
        switch HTTPSyntax.parseVersion(parts[2]) {
        case .some(.some(let parsed)): version = parsed
        case .some(.none): return HTTPParseError(status: 505, message: "HTTP version not supported")
        case .none: return HTTPParseError(status: 400, message: "Malformed HTTP version")
        }
        requestLine = (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), version)
        return nil
    }

    private mutating func parseField(_ range: Range<Int>, intoTrailers: Bool) -> HTTPParseError? {
        let line = buffer[range]
        if line.first == 32 || line.first == 9 {
            return HTTPParseError(status: 400, message: "Obsolete line folding is not allowed")
        }
        guard let colon = line.firstIndex(of: 58) else {
            return HTTPParseError(status: 400, message: "Header line without a colon")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(HTTPSyntax.isTokenByte) else {
            return HTTPParseError(status: 400, message: "Invalid header name")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 32 || first == 9 { value.removeFirst() }
        while let last = value.last, last == 32 || last == 9 { value.removeLast() }
        guard value.allSatisfy({ $0 >= 32 && $0 != 127 || $0 == 9 }) else {
            return HTTPParseError(status: 400, message: "Invalid character in header value")
        }
        headerCount += 1
        if headerCount > limits.maxHeaderCount {
            return HTTPParseError(status: 431, message: "Too many header fields")
        }
        let field = (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        if intoTrailers { trailers.add(field.0, field.1) } else { headers.add(field.0, field.1) }
        return nil
    }

    private func parseChunkSize(_ range: Range<Int>) -> Result<Int, HTTPParseError> {
        let line = buffer[range]
        let digits = line.prefix(while: HTTPSyntax.isHexDigit)
        guard !digits.isEmpty else { return .failure(HTTPParseError(status: 400, message: "Invalid chunk size")) }
        let rest = line[digits.endIndex...].drop { $0 == 32 || $0 == 9 }
        guard rest.isEmpty || rest.first == 59, rest.allSatisfy({ $0 >= 32 && $0 != 127 || $0 == 9 }) else {
            return .failure(HTTPParseError(status: 400, message: "Invalid chunk size"))
        }
        let significant = digits.drop { $0 == 48 }
        guard significant.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16),
              body.count + size <= limits.maxBodyBytes
        else {
            return .failure(HTTPParseError(status: 413, message: "Request body is too large"))
        }
        return .success(size)
    }

    private func validateHead() -> Result<HTTPRequestHead, HTTPParseError> {
        guard let requestLine else { preconditionFailure("headers parsed before the request line") }
        return HTTPSyntax.validateHead(
            method: requestLine.method, target: requestLine.target, version: requestLine.version,
            headers: headers, maxBodyBytes: limits.maxBodyBytes
        )
    }

    // MARK: - Message boundaries

    private mutating func complete() -> HTTPParserEvent {
        guard let head else { preconditionFailure("message completed without a head") }
        let event = HTTPParserEvent.request(head, body: body, trailers: trailers)
        state = .requestLine
        requestLine = nil
        self.head = nil
        headers = HTTPHeaders()
        trailers = HTTPHeaders()
        body = []
        headerBytes = 0
        headerCount = 0
        leadingEmptyLineBytes = 0
        return event
    }

    private mutating func fail(_ status: Int, _ message: String) -> Step {
        fail(HTTPParseError(status: status, message: message))
    }

    private mutating func fail(_ error: HTTPParseError) -> Step {
        state = .failed(error)
        body = []
        return .emit(.error(error))
    }
}
