import Dispatch
import Foundation
import Logging
import Testing
@testable import HTTPCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Parser feeding

/// How test input is cut before it is fed to the parser.
enum SplitMode: CaseIterable, CustomTestStringConvertible, Sendable {
    case whole
    case byteByByte
    case random

    var testDescription: String {
        switch self {
        case .whole: "whole"
        case .byteByByte: "byte by byte"
        case .random: "random splits"
        }
    }
}

/// A small deterministic generator (SplitMix64) so "random" splits are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Feeds `input` in pieces, pulling events after every piece; stops after the first error.
func parseEvents(_ input: [UInt8], mode: SplitMode, limits: HTTPParserLimits = HTTPParserLimits(),
                 seed: UInt64 = 42) -> [HTTPParserEvent] {
    var parser = HTTPParser(limits: limits)
    var events: [HTTPParserEvent] = []
    var generator = SeededGenerator(state: seed)
    var index = 0
    while index < input.count {
        let size = switch mode {
        case .whole: input.count
        case .byteByByte: 1
        case .random: Int.random(in: 1...max(1, min(input.count - index, 17)), using: &generator)
        }
        let end = min(index + size, input.count)
        parser.feed(input[index..<end])
        index = end
        while let event = parser.next() {
            events.append(event)
            if case .error = event { return events }
        }
    }
    return events
}

func parseEvents(_ text: String, mode: SplitMode, limits: HTTPParserLimits = HTTPParserLimits()) -> [HTTPParserEvent] {
    parseEvents(Array(text.utf8), mode: mode, limits: limits)
}

/// The complete requests among `events`.
func requests(_ events: [HTTPParserEvent]) -> [(head: HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders)] {
    events.compactMap {
        if case .request(let head, let body, let trailers) = $0 { return (head, body, trailers) }
        return nil
    }
}

/// The error status, if parsing failed.
func errorStatus(_ events: [HTTPParserEvent]) -> Int? {
    if case .error(let error) = events.last { return error.status }
    return nil
}

// MARK: - Live servers

let quietLogger = Logger(label: "test.http") { _ in SwiftLogNoOpLogHandler() }

extension HTTPServerConfiguration {
    static func test(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        return configuration
    }
}

/// Starts a server on an ephemeral port, runs `body`, then shuts the server down and waits for it.
func withServer(
    _ configuration: HTTPServerConfiguration = .test(),
    logger: Logger = quietLogger,
    handler: @escaping HTTPHandler = testRoutes,
    _ body: (HTTPServer, Int) throws -> Void
) throws {
    let server = HTTPServer(configuration: configuration, logger: logger, handler: handler)
    let port = try server.start()
    defer {
        server.shutdown(gracePeriod: .milliseconds(200))
        server.waitUntilStopped()
    }
    try body(server, port)
}

/// Handlers shared by the live tests.
@Sendable func testRoutes(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
    switch request.path {
    case "/echo":
        writer.respond(HTTPResponseHead(status: 200, headers: [
            "X-Method": request.method, "X-Query": request.query ?? "", "X-Trailer": request.trailers["X-Checksum"] ?? "",
        ]), body: request.body)
    case "/delay":
        let milliseconds = Int(request.query ?? "") ?? 50
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) {
            writer.respond(HTTPResponseHead(status: 200), body: Array("delayed \(milliseconds)".utf8))
        }
    case "/stream":
        writer.startStreaming(HTTPResponseHead(status: 200, headers: ["Content-Type": "text/plain"]))
        DispatchQueue.global().async {
            for index in 0..<3 {
                writer.write(Array("part\(index);".utf8))
                usleep(10_000)
            }
            writer.finish()
        }
    case "/json":
        // `?N`: a JSON body of about N bytes that compresses well.
        let size = Int(request.query ?? "") ?? 4096
        let body = #"{"text":""# + String(repeating: "token ", count: max(size / 6, 0)) + #""}"#
        writer.respond(HTTPResponseHead(status: 200, headers: ["Content-Type": "application/json"]), body: Array(body.utf8))
    case "/sse":
        let sse = SSEWriter(writer)
        sse.start()
        DispatchQueue.global().async {
            sse.sendComment("ping")
            sse.send(data: #"{"n":1}"#)
            sse.send(data: "line one\nline two", event: "multi")
            sse.send(data: "[DONE]")
            sse.finish()
        }
    default:
        writer.respond(HTTPResponseHead(status: 404, headers: ["Content-Type": "text/plain"]), body: Array("not found".utf8))
    }
}

/// Polls `condition` until it holds or `seconds` pass (for state that settles asynchronously).
func eventually(seconds: Double = 2, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// A one-shot flag to wait on across threads.
final class Signal: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func fire() { semaphore.signal() }
    /// Whether the signal fired within `seconds`.
    func wait(seconds: Double = 5) -> Bool {
        semaphore.wait(timeout: .now() + seconds) == .success
    }
}

/// A thread-safe box for values produced on server threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
    var current: Value { lock.withLock { value } }
}

/// Collects log records (for access-log assertions).
struct CapturingLogHandler: LogHandler {
    let records: Locked<[(message: String, metadata: Logger.Metadata)]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.withValue { $0.append((event.message.description, merged)) }
    }
}
