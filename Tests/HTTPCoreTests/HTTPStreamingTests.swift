import Dispatch
import Foundation
import Testing
@testable import HTTPCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Live tests of streamed responses, disconnects, timeouts and shutdown.
@Suite("HTTPServer streaming and lifecycle")
struct HTTPStreamingTests {
    @Test func chunkedStreamThenKeepAlive() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/stream"))
            let head = try client.readHead()
            #expect(head.status == 200)
            #expect(head.headers["Transfer-Encoding"] == "chunked")
            #expect(head.headers["Content-Length"] == nil)
            var chunks: [String] = []
            while let chunk = try client.readChunk() { chunks.append(String(decoding: chunk, as: UTF8.self)) }
            #expect(chunks == ["part0;", "part1;", "part2;"])
            try client.send(post("/echo", body: "next"))
            #expect(try client.readResponse().text == "next")
        }
    }

    @Test func http10StreamIsCloseDelimited() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("GET /stream HTTP/1.0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.headers["Transfer-Encoding"] == nil)
            #expect(response.headers["Connection"] == "close")
            #expect(response.text == "part0;part1;part2;")
        }
    }

    @Test func serverSentEventsParseOnTheClient() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/sse"))
            let head = try client.readHead()
            #expect(head.headers["Content-Type"] == "text/event-stream; charset=utf-8")
            #expect(head.headers["Cache-Control"] == "no-cache")
            var chunks: [String] = []
            while let chunk = try client.readChunk() { chunks.append(String(decoding: chunk, as: UTF8.self)) }
            #expect(chunks.count == 4) // one chunk per event (and one for the comment)
            let events = parseSSE(chunks.joined())
            #expect(events.map(\.data) == [#"{"n":1}"#, "line one\nline two", "[DONE]"])
            #expect(events.map(\.event) == [nil, "multi", nil])
            #expect(chunks.first == ": ping\n\n")
        }
    }

    /// A client that leaves before any response head is counted (access log, status metrics) as 499, nginx's
    /// "client closed request", not as status 0.
    @Test func aClientGoneBeforeTheResponseIs499() throws {
        let statuses = Locked<[Int]>([])
        let reported = Signal(), closed = Signal()
        let held = Locked<HTTPResponseWriter?>(nil)   // kept, unanswered: a writer dropped unanswered is a 500
        let server = HTTPServer(configuration: .test(), logger: quietLogger, accessObserver: { _, _, status, _ in
            statuses.withValue { $0.append(status) }
            reported.fire()
        }) { _, writer in
            held.withValue { $0 = writer }
            writer.onClose { closed.fire() }
        }
        let port = try server.start()
        defer {
            server.shutdown(gracePeriod: .milliseconds(200))
            server.waitUntilStopped()
        }
        let client = try TestClient(port: port)
        try client.send(get("/slow"))
        Thread.sleep(forTimeInterval: 0.1)
        client.hangUp()
        #expect(closed.wait())
        #expect(reported.wait())
        #expect(statuses.current == [499])
    }

    @Test(arguments: [false, true])
    func disconnectWhileStreamingFiresOnClose(reset: Bool) throws {
        let closed = Signal()
        let captured = Locked<HTTPResponseWriter?>(nil)
        let handler: HTTPHandler = { _, writer in
            writer.onClose { closed.fire() }
            captured.withValue { $0 = writer }
            writer.startStreaming(HTTPResponseHead(status: 200))
            writer.write(Array("first".utf8))
        }
        try withServer(handler: handler) { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/generate"))
            _ = try client.readHead()
            #expect(try client.readChunk() == Array("first".utf8))
            if reset { client.reset() } else { client.hangUp() }
            #expect(closed.wait())
            let writer = try #require(captured.current)
            #expect(writer.isClosed)
            #expect(writer.write(Array("late".utf8)) == .closed)
            // Registering after the fact runs the callback at once.
            let late = Signal()
            writer.onClose { late.fire() }
            #expect(late.wait(seconds: 0))
        }
    }

    @Test func finishedResponseNeverFiresOnClose() throws {
        let fired = Locked(false)
        let handler: HTTPHandler = { _, writer in
            writer.onClose { fired.withValue { $0 = true } }
            writer.respond(HTTPResponseHead(status: 200), body: [])
        }
        try withServer(handler: handler) { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/"))
            _ = try client.readResponse()
        }
        #expect(fired.current == false)
    }

    @Test func slowlorisIsCutByTheHeaderTimeout() throws {
        try withServer(.test { $0.headerTimeout = .milliseconds(300) }) { _, port in
            let start = ContinuousClock.now
            let client = try TestClient(port: port)
            try client.send("GET / HTTP/1.1\r\nHost: t\r\n")
            for _ in 0..<2 {
                usleep(100_000)
                try client.send("X-Slow: 1\r\n") // trickling does not extend the deadline
            }
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(client.isClosedByServer())
            let elapsed = start.duration(to: .now)
            #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2))

            let silent = try TestClient(port: port)
            #expect(silent.isClosedByServer()) // closed without a response
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        try withServer(.test { $0.idleTimeout = .milliseconds(200) }) { server, port in
            let client = try TestClient(port: port)
            try client.send(get("/echo"))
            _ = try client.readResponse()
            #expect(client.isClosedByServer())
            #expect(eventually { server.connectionCount == 0 })
        }
    }

    @Test func gracefulShutdownLetsInFlightRequestFinish() throws {
        let received = Signal()
        let handler: HTTPHandler = { request, writer in
            received.fire()
            testRoutes(request, writer)
        }
        let server = HTTPServer(configuration: .test(), logger: quietLogger, handler: handler)
        let port = try server.start()
        let client = try TestClient(port: port)
        let idle = try TestClient(port: port)
        try client.send(get("/delay?300"))
        #expect(received.wait())
        server.shutdown(gracePeriod: .seconds(5))
        server.shutdown(gracePeriod: .seconds(10)) // a second call is harmless
        let response = try client.readResponse()
        #expect(response.text == "delayed 300")
        #expect(response.headers["Connection"] == "close")
        client.hangUp() // otherwise the server lingers (up to 2 s) before closing its side
        #expect(idle.isClosedByServer())
        server.waitUntilStopped()
        #expect(throws: TestClientError.self) { _ = try TestClient(port: port) }
    }

    @Test func shutdownDeadlineCancelsUnfinishedStreams() throws {
        let closed = Signal()
        let held = Locked<HTTPResponseWriter?>(nil) // as an engine would hold it
        let handler: HTTPHandler = { _, writer in
            held.withValue { $0 = writer }
            writer.onClose { closed.fire() }
            writer.startStreaming(HTTPResponseHead(status: 200))
        }
        let server = HTTPServer(configuration: .test(), logger: quietLogger, handler: handler)
        let port = try server.start()
        let client = try TestClient(port: port)
        try client.send(get("/forever"))
        _ = try client.readHead()
        let start = ContinuousClock.now
        server.shutdown(gracePeriod: .milliseconds(200))
        server.waitUntilStopped()
        #expect(closed.wait())
        #expect(start.duration(to: .now) < .seconds(2))
        #expect(held.current?.isClosed == true)
    }

    @Test func backpressureThenHardLimitCutsASlowReader() throws {
        let results = Locked<[HTTPWriteResult]>([])
        let closed = Signal()
        let handler: HTTPHandler = { _, writer in
            writer.onClose { closed.fire() }
            writer.startStreaming(HTTPResponseHead(status: 200))
            let chunk = [UInt8](repeating: 65, count: 64 * 1024)
            for _ in 0..<512 {
                let result = writer.write(chunk)
                results.withValue { $0.append(result) }
                if result == .closed { break }
            }
        }
        let configuration = HTTPServerConfiguration.test {
            $0.streamHighWaterMark = 128 * 1024
            $0.streamHardLimit = 1024 * 1024
        }
        try withServer(configuration, handler: handler) { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/big")) // and never read
            #expect(closed.wait())
            let seen = results.current
            #expect(seen.contains(.backpressure))
            #expect(seen.last == .closed)
        }
    }
}

/// A minimal EventSource parser: events are separated by a blank line; `data:` lines join with `\n`.
func parseSSE(_ text: String) -> [(event: String?, data: String)] {
    var events: [(event: String?, data: String)] = []
    for block in text.components(separatedBy: "\n\n") where !block.isEmpty {
        var event: String?
        var data: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") { continue }
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        if !data.isEmpty { events.append((event, data.joined(separator: "\n"))) }
    }
    return events
}
