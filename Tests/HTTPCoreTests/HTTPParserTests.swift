import Testing
@testable import HTTPCore

/// Every parser test runs three times: whole input, one byte at a time, and random splits.
@Suite("HTTPParser")
struct HTTPParserTests {
    @Test(arguments: SplitMode.allCases)
    func simpleGET(mode: SplitMode) throws {
        let events = parseEvents("GET /v1/models?x=1&y=2 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", mode: mode)
        #expect(events.count == 2)
        guard case .head(let head) = events.first else { Issue.record("no head"); return }
        #expect(head.method == "GET")
        #expect(head.target == "/v1/models?x=1&y=2")
        #expect(head.version == .http1_1)
        #expect(head.headers["accept"] == "*/*")
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
        #expect(head.framing == .none)
        let request = try #require(requests(events).first)
        #expect(request.body.isEmpty)
        #expect(HTTPRequest.split(target: head.target) == ("/v1/models", "x=1&y=2"))
    }

    @Test(arguments: SplitMode.allCases)
    func postWithContentLength(mode: SplitMode) throws {
        let body = #"{"model":"m","messages":[]}"#
        let events = parseEvents("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\ncontent-length: \(body.utf8.count)\r\n"
            + "Content-Type: application/json\r\n\r\n\(body)", mode: mode)
        let request = try #require(requests(events).first)
        #expect(request.head.method == "POST")
        #expect(request.head.framing == .length(body.utf8.count))
        #expect(String(decoding: request.body, as: UTF8.self) == body)
    }

    @Test(arguments: SplitMode.allCases)
    func chunkedBodyWithExtensionsAndTrailers(mode: SplitMode) throws {
        let input = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n" + "7;name=value\r\n, world\r\n" + "0001 ; ext\r\n!\r\n"
            + "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        let events = parseEvents(input, mode: mode)
        let request = try #require(requests(events).first)
        #expect(request.head.framing == .chunked)
        #expect(String(decoding: request.body, as: UTF8.self) == "hello, world!")
        #expect(request.trailers["x-checksum"] == "abc")
        #expect(request.trailers.count == 2)
    }

    @Test(arguments: SplitMode.allCases)
    func pipelinedRequestsComeOutInOrder(mode: SplitMode) {
        let input = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
            + "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            + "GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        let all = requests(parseEvents(input, mode: mode))
        #expect(all.map(\.head.target) == ["/a", "/b", "/c", "/d"])
        #expect(all.map { String(decoding: $0.body, as: UTF8.self) } == ["", "xyz", "hi", ""])
        #expect(all.map(\.head.keepAlive) == [true, true, true, false])
    }

    @Test(arguments: SplitMode.allCases)
    func toleratesLeadingEmptyLinesAndBareLF(mode: SplitMode) throws {
        let events = parseEvents("\r\n\nGET / HTTP/1.1\nHost: a\nX: y \t\n\n", mode: mode)
        let request = try #require(requests(events).first)
        #expect(request.head.headers["x"] == "y")
    }

    @Test(arguments: SplitMode.allCases)
    func http10DefaultsToClose(mode: SplitMode) {
        let all = requests(parseEvents("GET / HTTP/1.0\r\n\r\n", mode: mode))
        #expect(all.first?.head.keepAlive == false)
        #expect(all.first?.head.version == .http1_0)
        let keepAlive = requests(parseEvents("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", mode: mode))
        #expect(keepAlive.first?.head.keepAlive == true)
        let close = requests(parseEvents("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", mode: mode))
        #expect(close.first?.head.keepAlive == false)
    }

    @Test(arguments: SplitMode.allCases)
    func expectContinueIsDetected(mode: SplitMode) throws {
        let events = parseEvents("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n", mode: mode)
        guard case .head(let head) = events.first else { Issue.record("no head"); return }
        #expect(head.expectsContinue)
        #expect(events.count == 1) // the body has not arrived yet
        let old = parseEvents("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab", mode: mode)
        #expect(requests(old).first?.head.expectsContinue == false)
        let noBody = parseEvents("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", mode: mode)
        #expect(requests(noBody).first?.head.expectsContinue == false)
        #expect(errorStatus(parseEvents("GET / HTTP/1.1\r\nHost: a\r\nExpect: party\r\n\r\n", mode: mode)) == 417)
    }

    @Test(arguments: SplitMode.allCases)
    func absoluteFormTarget(mode: SplitMode) {
        let all = requests(parseEvents("GET http://example.com:80/v1/x?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", mode: mode))
        let target = all.first?.head.target ?? ""
        #expect(HTTPRequest.split(target: target) == ("/v1/x", "q=1"))
        #expect(HTTPRequest.split(target: "http://h") == ("/", nil))
        #expect(HTTPRequest.split(target: "*") == ("*", nil))
    }

    // MARK: - Limits

    @Test(arguments: SplitMode.allCases)
    func limitsAnswerStandardStatuses(mode: SplitMode) {
        var limits = HTTPParserLimits()
        limits.maxRequestLineLength = 64
        limits.maxHeaderBytes = 256
        limits.maxHeaderCount = 5
        limits.maxBodyBytes = 10
        let longTarget = "/" + String(repeating: "a", count: 100)
        #expect(errorStatus(parseEvents("GET \(longTarget) HTTP/1.1\r\n", mode: mode, limits: limits)) == 414)
        // Detected before the line ends, so an endless line cannot exhaust memory.
        #expect(errorStatus(parseEvents("GET \(longTarget)", mode: mode, limits: limits)) == 414)
        let bigHeader = "GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "v", count: 300))"
        #expect(errorStatus(parseEvents(bigHeader, mode: mode, limits: limits)) == 431)
        let manyHeaders = "GET / HTTP/1.1\r\nHost: a\r\n" + (1...5).map { "H\($0): v\r\n" }.joined() + "\r\n"
        #expect(errorStatus(parseEvents(manyHeaders, mode: mode, limits: limits)) == 431)
        #expect(errorStatus(parseEvents(post("/", body: String(repeating: "b", count: 11)), mode: mode, limits: limits)) == 413)
        let chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        #expect(errorStatus(parseEvents(chunked, mode: mode, limits: limits)) == 413)
        let hugeChunk = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"
        #expect(errorStatus(parseEvents(hugeChunk, mode: mode)) == 413)
        let bigTrailers = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + (1...5).map { "T\($0): v\r\n" }.joined() + "\r\n"
        #expect(errorStatus(parseEvents(bigTrailers, mode: mode, limits: limits)) == 431)
    }

    // MARK: - Request smuggling and malformed input

    @Test(arguments: SplitMode.allCases)
    func ambiguousFramingIsRejected(mode: SplitMode) {
        let cases: [(String, Int)] = [
            ("Content-Length: 3\r\nTransfer-Encoding: chunked", 400),
            ("Transfer-Encoding: chunked\r\nContent-Length: 3", 400),
            ("Content-Length: 3\r\nContent-Length: 4", 400),
            ("Content-Length: 3, 4", 400),
            ("Content-Length: +3", 400),
            ("Content-Length: -1", 400),
            ("Content-Length: 3a", 400),
            ("Content-Length: ", 400),
            ("Content-Length: 0x10", 400),
            ("Content-Length: 99999999999999999999999", 400),
            ("Transfer-Encoding: gzip", 501),
            ("Transfer-Encoding: gzip, chunked", 501),
            ("Transfer-Encoding: chunked, chunked", 400),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", 400),
            ("Content-Length : 3", 400),
            ("X: a\r\n folded", 400),
            ("X: a\0b", 400),
            ("X: a\rb", 400),
            (": novalue", 400),
            ("Nocolon", 400),
            ("Host: b", 400),
        ]
        for (fields, status) in cases {
            let events = parseEvents("POST / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n\r\nabc", mode: mode)
            #expect(errorStatus(events) == status, "\(fields.debugDescription)")
        }
        // Identical repeated lengths are one length.
        let same = requests(parseEvents("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", mode: mode))
        #expect(same.first?.head.framing == .length(3))
        // HTTP/1.0 with Transfer-Encoding is processed but never kept alive.
        let old = requests(parseEvents("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", mode: mode))
        #expect(old.first?.head.keepAlive == false)
    }

    @Test(arguments: SplitMode.allCases)
    func malformedRequestLines(mode: SplitMode) {
        let cases: [(String, Int)] = [
            ("GET /\r\n", 400),
            ("GET  / HTTP/1.1\r\n", 400),
            ("GET / HTTP/1.1 \r\n", 400),
            ("G(T / HTTP/1.1\r\n", 400),
            ("GET /\u{7F} HTTP/1.1\r\n", 400),
            ("GET / http/1.1\r\n", 400),
            ("GET / HTTP/1.10\r\n", 400),
            ("GET / HTTP/2.0\r\n", 505),
            ("GET / HTTP/0.9\r\n", 505),
            ("GET /\rX HTTP/1.1\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400), // missing Host
        ]
        for (line, status) in cases {
            #expect(errorStatus(parseEvents(line, mode: mode)) == status, "\(line.debugDescription)")
        }
        // Unknown but well-formed methods are the router's business (501), not the parser's.
        #expect(requests(parseEvents("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", mode: mode)).first?.head.method == "BREW")
        #expect(requests(parseEvents("GET / HTTP/1.0\r\n\r\n", mode: mode)).count == 1) // 1.0 needs no Host
        // A later minor version of HTTP/1 is read as 1.1 (RFC 9112 §2.3): Host is required, as in 1.1.
        #expect(requests(parseEvents("GET / HTTP/1.2\r\nHost: a\r\n\r\n", mode: mode)).first?.head.version == .http1_1)
        #expect(errorStatus(parseEvents("GET / HTTP/1.9\r\n\r\n", mode: mode)) == 400)
    }

    @Test(arguments: SplitMode.allCases)
    func malformedChunks(mode: SplitMode) {
        let prefix = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        for (chunks, status) in [("zz\r\n", 400), ("3\r\nabcX\r\n", 400), (" 3\r\nabc\r\n", 400), ("3x\r\nabc\r\n", 400)] {
            #expect(errorStatus(parseEvents(prefix + chunks, mode: mode)) == status, "\(chunks.debugDescription)")
        }
    }

    @Test func errorsAreTerminal() {
        var parser = HTTPParser()
        parser.feed(Array("GET / HTTP/2.0\r\n".utf8))
        #expect(parser.next() == .error(HTTPParseError(status: 505, message: "HTTP version not supported")))
        parser.feed(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        guard case .error = parser.next() else { Issue.record("parser recovered after an error"); return }
    }

    @Test func pullModelKeepsPipelinedBytesBuffered() {
        var parser = HTTPParser()
        parser.feed(Array("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        guard case .head = parser.next(), case .request = parser.next() else { Issue.record("no first request"); return }
        #expect(parser.bufferedByteCount == "GET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8.count)
        #expect(parser.hasPartialRequest)
        guard case .head(let head) = parser.next() else { Issue.record("no second head"); return }
        #expect(head.target == "/b")
        _ = parser.next()
        #expect(!parser.hasPartialRequest)
        #expect(parser.next() == nil)
    }

    /// A cheap fuzz pass: mutated requests must never crash, must fail only with the documented statuses,
    /// and must produce the same events however the bytes are split.
    @Test func mutatedInputIsSplitInvariant() {
        let seeds = [
            "GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
            "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
        ]
        var limits = HTTPParserLimits()
        (limits.maxRequestLineLength, limits.maxHeaderBytes, limits.maxHeaderCount, limits.maxBodyBytes) = (40, 120, 6, 8)
        let allowed: Set<Int> = [400, 413, 414, 417, 431, 501, 505]
        var generator = SeededGenerator(state: 2024)
        for iteration in 0..<1500 {
            var bytes = Array(seeds[iteration % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                let byte = [0, 9, 10, 13, 32, 44, 48, 58, 59, 70, 255, UInt8.random(in: 0...255, using: &generator)]
                    .randomElement(using: &generator)!
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[index] = byte
                case 1: bytes.insert(byte, at: index)
                default: if bytes.count > 1 { bytes.remove(at: index) }
                }
            }
            let whole = parseEvents(bytes, mode: .whole, limits: limits)
            let split = parseEvents(bytes, mode: .random, limits: limits, seed: UInt64(iteration))
            #expect(whole == split, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
            if let status = errorStatus(whole) { #expect(allowed.contains(status)) }
        }
    }
}
