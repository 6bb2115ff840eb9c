import Foundation
import Testing
@testable import HTTPCore

@Suite("HTTPHeaders")
struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndOrdered() {
        var headers = HTTPHeaders([("Content-Type", "a"), ("X-Multi", "1"), ("x-multi", "2")])
        #expect(headers["content-type"] == "a")
        #expect(headers.values("X-MULTI") == ["1", "2"])
        #expect(headers["missing"] == nil)
        headers.add("Set-Cookie", "c")
        #expect(headers.map(\.name) == ["Content-Type", "X-Multi", "x-multi", "Set-Cookie"])
        headers.replaceOrAdd("X-MULTI", "3")
        #expect(headers.values("x-multi") == ["3"])
        #expect(headers.map(\.name) == ["Content-Type", "X-MULTI", "Set-Cookie"])
        headers.replaceOrAdd("New", "n")
        #expect(headers["new"] == "n")
        headers.remove("content-type")
        #expect(!headers.contains("Content-Type"))
        #expect(headers.count == 3)
    }

    @Test func connectionTokens() {
        let headers: HTTPHeaders = ["Connection": "Upgrade , Close"]
        #expect(headers.containsToken("close", in: "connection"))
        #expect(!headers.containsToken("keep-alive", in: "connection"))
    }
}

@Suite("ConnectionDeadlines")
struct ConnectionDeadlinesTests {
    let t0 = ContinuousClock.now
    var deadlines = ConnectionDeadlines(timeouts: .init(
        header: .seconds(10), body: .seconds(20), idle: .seconds(30), writeStall: .seconds(5)
    ))

    @Test mutating func freshConnectionGetsTheHeaderTimeout() {
        deadlines.awaitRequest(now: t0, freshConnection: true)
        #expect(deadlines.expired(at: t0 + .seconds(9)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(10)) == .header)
        // Trickling bytes do not extend a header deadline (slowloris).
        deadlines.requestBytesArrived(now: t0 + .seconds(9))
        #expect(deadlines.next == t0 + .seconds(10))
    }

    @Test mutating func idleThenHeaderThenBody() {
        deadlines.awaitRequest(now: t0, freshConnection: false)
        #expect(deadlines.expired(at: t0 + .seconds(29)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(30)) == .idle)
        deadlines.requestBytesArrived(now: t0 + .seconds(25))
        #expect(deadlines.expired(at: t0 + .seconds(35)) == .header)
        deadlines.headReceived(now: t0 + .seconds(26), hasBody: true)
        #expect(deadlines.expired(at: t0 + .seconds(45)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(46)) == .body)
        deadlines.requestReceived()
        #expect(deadlines.next == nil)
    }

    @Test mutating func writeStallRestartsOnProgressAndWins() {
        deadlines.awaitRequest(now: t0, freshConnection: true)
        deadlines.outputBlocked(now: t0, madeProgress: false)
        deadlines.outputBlocked(now: t0 + .seconds(3), madeProgress: false)
        #expect(deadlines.expired(at: t0 + .seconds(5)) == .writeStall)
        deadlines.outputBlocked(now: t0 + .seconds(4), madeProgress: true)
        #expect(deadlines.expired(at: t0 + .seconds(8)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(10)) == .writeStall) // beats the header deadline
        deadlines.outputDrained()
        #expect(deadlines.expired(at: t0 + .seconds(10)) == .header)
        deadlines.lingering(now: t0)
        #expect(deadlines.expired(at: t0 + .seconds(2)) == .linger)
    }
}

@Suite("Response encoding and SSE framing")
struct EncodingTests {
    @Test func chunkFraming() {
        #expect(ResponseEncoding.chunk(Array("hello, world!!!!".utf8)) == Array("10\r\nhello, world!!!!\r\n".utf8))
        #expect(ResponseEncoding.lastChunk == Array("0\r\n\r\n".utf8))
    }

    @Test func headIsSanitizedAgainstResponseSplitting() {
        let head = String(decoding: ResponseEncoding.head(status: 200, headers: ["X-A": "v\r\nInjected: 1"]), as: UTF8.self)
        #expect(head == "HTTP/1.1 200 OK\r\nX-A: v  Injected: 1\r\n\r\n" || head == "HTTP/1.1 200 OK\r\nX-A: v Injected: 1\r\n\r\n")
        #expect(!head.contains("\r\nInjected"))
    }

    @Test func errorBodyIsOpenAIShapedJSON() throws {
        let body = ResponseEncoding.errorBody(message: "Bad \"thing\"\n\u{1}")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let error = try #require(json["error"] as? [String: Any])
        #expect(error["message"] as? String == "Bad \"thing\"\n\u{1}")
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["param"] is NSNull)
        #expect(error["code"] is NSNull)
    }

    /// The one JSON string escaper every hand-written JSON in the server uses: every scalar round-trips through
    /// a JSON parser, and the escapes are the short or `\u00XX` forms.
    @Test func jsonStringLiteralsRoundTrip() throws {
        var all = (0..<0x80).compactMap(Unicode.Scalar.init).map(String.init).joined()
        all += "é€😀\u{2028}\u{2029}\u{FEFF}\u{7F}"
        let literal = JSONString.literal(all)
        let decoded = try JSONDecoder().decode(String.self, from: Data(literal.utf8))
        #expect(decoded == all)
        #expect(JSONString.literal("a\"b\\c\n\r\t\u{8}\u{C}\u{1}\u{1F}\u{2028}") == #""a\"b\\c\n\r\t\b\f\u0001\u001f\u2028""#)
        #expect(!literal.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x2028 || $0.value == 0x2029 })
        var out = "x"
        JSONString.appendEscaped("\"", to: &out)
        #expect(out == #"x\""#)
    }

    @Test func httpDateIsIMFFixdate() {
        #expect(ResponseEncoding.httpDate(epochSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test func sseEventFraming() {
        #expect(SSEWriter.encode(data: "{\"a\":1}", event: nil) == "data: {\"a\":1}\n\n")
        #expect(SSEWriter.encode(data: "one\ntwo\r\nthree\rfour", event: "m\nx") ==
            "event: mx\ndata: one\ndata: two\ndata: three\ndata: four\n\n")
        #expect(SSEWriter.encode(data: "", event: nil) == "data: \n\n")
    }

    @Test func configurationValidation() {
        #expect(throws: Never.self) { try HTTPServerConfiguration().validate() }
        #expect(throws: HTTPServerError.self) { try HTTPServerConfiguration(port: 70_000).validate() }
        #expect(throws: HTTPServerError.self) {
            try HTTPServerConfiguration(streamHighWaterMark: 10, streamHardLimit: 5).validate()
        }
    }
}
