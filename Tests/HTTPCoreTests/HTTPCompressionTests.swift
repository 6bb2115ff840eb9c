import Foundation
import Testing
@testable import HTTPCore

/// gzip without sockets: negotiation, the zlib wrappers, the response policy.
@Suite("gzip units")
struct GzipUnitTests {
    @Test(arguments: [
        (nil, false), ("gzip", true), ("GZip", true), ("x-gzip", true), ("gzip;q=0", false),
        ("gzip; q=0.000", false), ("br, gzip;q=0.5", true), ("*", true), ("*;q=0", false),
        ("*, gzip;q=0", false), ("identity", false), ("deflate, br", false), ("gzip;q=abc", false),
        ("gzip;Q=1", true), ("br;q=1, *;q=0.1", true),
    ] as [(String?, Bool)])
    func acceptEncoding(header: String?, accepts: Bool) {
        #expect(ContentCoding.acceptsGzip(header) == accepts)
    }

    @Test func roundTripAndConcatenatedMembers() throws {
        let text = Array(String(repeating: "The quick brown fox. ", count: 500).utf8)
        let compressed = GzipCompressor.compress(text, level: 6)
        #expect(compressed.count < text.count / 10)
        #expect(compressed.starts(with: [0x1F, 0x8B])) // gzip magic
        #expect(try GzipDecoder.decompress(compressed, limit: text.count).get() == text)
        let twice = compressed + GzipCompressor.compress(Array("tail".utf8), level: 1)
        #expect(try GzipDecoder.decompress(twice, limit: 1 << 20).get() == text + Array("tail".utf8))
        #expect(try GzipDecoder.decompress([], limit: 10).get() == [])
    }

    @Test func decoderRejectsBombsAndGarbage() {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let bomb = GzipCompressor.compress(zeros, level: 9)
        #expect(bomb.count < 16 * 1024)
        #expect(GzipDecoder.decompress(bomb, limit: 1 << 20) == .failure(.tooLarge))
        let valid = GzipCompressor.compress(Array("hello world".utf8), level: 6)
        #expect(GzipDecoder.decompress(Array(valid.dropLast(5)), limit: 100) == .failure(.corrupt))
        #expect(GzipDecoder.decompress(Array("not gzip at all".utf8), limit: 100) == .failure(.corrupt))
        #expect(GzipDecoder.decompress(valid + [0, 0, 0], limit: 100) == .failure(.corrupt))
    }

    @Test func streamOfFlushedChunksDecodesAsOne() throws {
        let compressor = GzipCompressor(level: 6)
        var stream: [UInt8] = []
        for index in 0..<5 {
            let piece = compressor.compressAndFlush(Array("event \(index)\n".utf8))
            #expect(piece.suffix(4) == [0x00, 0x00, 0xFF, 0xFF]) // sync flush marker: decodable so far
            stream += piece
        }
        stream += compressor.finish()
        let text = try GzipDecoder.decompress(stream, limit: 1 << 16).get()
        #expect(String(decoding: text, as: UTF8.self) == (0..<5).map { "event \($0)\n" }.joined())
    }

    @Test func responsePolicy() throws {
        let policy = try #require(ResponseCompression(configuration: .init(), acceptEncoding: "gzip"))
        let large = Array(String(repeating: "{\"a\":1}", count: 400).utf8)
        func apply(_ headers: HTTPHeaders, status: Int = 200, body: [UInt8]) -> (HTTPResponseHead, [UInt8]) {
            var (head, body) = (HTTPResponseHead(status: status, headers: headers), body)
            policy.apply(to: &head, body: &body)
            return (head, body)
        }
        let (json, compressed) = apply(["Content-Type": "application/json; charset=utf-8"], body: large)
        #expect(json.headers["Content-Encoding"] == "gzip")
        #expect(json.headers["Vary"] == "Accept-Encoding")
        #expect(compressed.count < large.count)
        let (small, _) = apply(["Content-Type": "application/json", "Vary": "Origin"], body: Array("{}".utf8))
        #expect(small.headers["Content-Encoding"] == nil)
        #expect(small.headers["Vary"] == "Origin, Accept-Encoding")
        for headers: HTTPHeaders in [
            ["Content-Type": "image/png"], ["Content-Type": "text/plain", "Content-Encoding": "br"],
            ["Content-Type": "text/plain", "Cache-Control": "no-transform"], [:],
        ] {
            let (head, body) = apply(headers, body: large)
            #expect(head.headers["Content-Encoding"] == headers["Content-Encoding"])
            #expect(body == large)
        }
        #expect(ResponseCompression(configuration: .init(enabled: false), acceptEncoding: "gzip") == nil)
    }
}

/// gzip over real sockets, both ways.
@Suite("HTTPServer gzip")
struct HTTPCompressionTests {
    @Test func largeJSONIsCompressedWhenAccepted() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/json?8000", extra: "Accept-Encoding: br;q=1.0, gzip;q=0.8\r\n"))
            let response = try client.readResponse()
            #expect(response.headers["Content-Encoding"] == "gzip")
            #expect(response.headers["Vary"] == "Accept-Encoding")
            #expect(response.headers["Content-Length"] == String(response.body.count))
            let plain = try GzipDecoder.decompress(response.body, limit: 1 << 20).get()
            #expect(plain.count >= 7990)
            #expect(try gunzipWithCLI(response.body) == plain) // an independent decoder agrees

            try client.send("HEAD /json?8000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
            let head = try client.readResponse(forHEAD: true)
            #expect(head.headers["Content-Length"] == String(response.body.count))
        }
    }

    @Test(arguments: ["gzip;q=0", "identity", nil] as [String?])
    func notCompressedUnlessAccepted(acceptEncoding: String?) throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/json?8000", extra: acceptEncoding.map { "Accept-Encoding: \($0)\r\n" } ?? ""))
            let response = try client.readResponse()
            #expect(response.headers["Content-Encoding"] == nil)
            #expect(response.headers["Vary"] == "Accept-Encoding")
            #expect(response.text.hasPrefix(#"{"text":"token token"#))
        }
    }

    @Test func smallBodiesAreSentAsTheyAre() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/json?100", extra: "Accept-Encoding: gzip\r\n"))
            let response = try client.readResponse()
            #expect(response.headers["Content-Encoding"] == nil)
            #expect(response.text.hasSuffix(#"token "}"#))
        }
    }

    @Test(arguments: [false, true])
    func eventStreamsAreCompressedOnlyWhenConfigured(compressEventStreams: Bool) throws {
        let configuration = HTTPServerConfiguration.test { $0.compression.compressEventStreams = compressEventStreams }
        try withServer(configuration) { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/sse", extra: "Accept-Encoding: gzip\r\n"))
            let response = try client.readResponse()
            #expect(response.headers["Content-Encoding"] == (compressEventStreams ? "gzip" : nil))
            let body = compressEventStreams ? try GzipDecoder.decompress(response.body, limit: 1 << 16).get() : response.body
            let events = parseSSE(String(decoding: body, as: UTF8.self))
            #expect(events.map(\.data) == [#"{"n":1}"#, "line one\nline two", "[DONE]"])
        }
    }

    @Test func plainStreamsAreCompressedChunkByChunk() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/stream", extra: "Accept-Encoding: gzip\r\n"))
            let head = try client.readHead()
            #expect(head.headers["Content-Encoding"] == "gzip")
            var compressed: [UInt8] = []
            while let chunk = try client.readChunk() { compressed += chunk }
            let text = try GzipDecoder.decompress(compressed, limit: 1 << 16).get()
            #expect(String(decoding: text, as: UTF8.self) == "part0;part1;part2;")
            try client.send(post("/echo", body: "still in sync"))
            #expect(try client.readResponse().text == "still in sync")
        }
    }

    @Test func gzipRequestBodyIsDecoded() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            let text = String(repeating: "compressed upload ", count: 100)
            let body = GzipCompressor.compress(Array(text.utf8), level: 6)
            try client.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == text)
            try client.send(post("/echo", body: "next")) // the connection stays usable
            #expect(try client.readResponse().text == "next")
        }
    }

    @Test func zipBombIsRefusedWith413() throws {
        let bomb = GzipCompressor.compress([UInt8](repeating: 0, count: 64 << 20), level: 9)
        #expect(bomb.count < 100 * 1024) // far below the limit: only the decompressed size breaches it
        try withServer(.test { $0.maxBodyBytes = 1 << 20 }) { _, port in
            let client = try TestClient(port: port)
            try client.send(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8) + bomb)
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text.contains("decompressed"))
            #expect(client.isClosedByServer())
        }
    }

    /// The server's own refusals take the body the configuration renders for the request's path (an API with another
    /// error shape), and OpenAI's shape elsewhere.
    @Test func refusalsUseTheConfiguredBodyForTheirPath() throws {
        let config = HTTPServerConfiguration.test {
            $0.maxBodyBytes = 8
            $0.errorBody = { path, status, message, _ in path == "/other" ? Array("\(status) \(message)".utf8) : nil }
        }
        try withServer(config) { _, port in
            for (path, expected) in [("/other", "413 Request body is too large"), ("/echo", #"{"error":{"message":"Request body is too large""#)] {
                let client = try TestClient(port: port)
                try client.send("POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n")
                let response = try client.readResponse()
                #expect(response.status == 413 && response.text.hasPrefix(expected), "\(response.text)")
            }
        }
    }

    @Test(arguments: [("br", 415), ("gzip, br", 415), ("deflate", 415)])
    func unsupportedContentCodingIsRefused(coding: String, status: Int) throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: \(coding)\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            let head = try client.readHead() // the refusal comes instead of 100 Continue
            #expect(head.status == status)
            #expect(head.headers["Accept-Encoding"] == "gzip")
            #expect(head.headers["Connection"] == "close")
        }
    }

    @Test func corruptGzipBodyIs400() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip")
            #expect(try client.readResponse().status == 400)
        }
    }
}

/// `gzip -dc`, to check the server's output with a decoder that is not ours.
func gunzipWithCLI(_ data: [UInt8]) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-dc"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    let writer = Thread { // write and read concurrently so neither pipe fills up
        input.fileHandleForWriting.write(Data(data))
        try? input.fileHandleForWriting.close()
    }
    writer.start()
    let result = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Array(result)
}
