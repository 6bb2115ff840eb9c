import Foundation
import Logging
import Testing
@testable import moeserve

/// Lines written by a handler, for tests.
final class LineSink: @unchecked Sendable {
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.withLock { _lines } }
    func write(_ s: String) { lock.withLock { _lines.append(s) } }

    /// Every line parsed as a JSON object (a line that does not parse fails the test).
    func objects() throws -> [[String: Any]] {
        try lines.map { line in
            #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"), "one line per record: \(line)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }
}

@Suite struct JSONLogHandlerTests {
    func logger(_ sink: LineSink, level: Logger.Level = .info) -> Logger {
        var h = JSONLogHandler(label: "moeserve.test", write: { sink.write($0) })
        h.logLevel = level
        return Logger(label: "moeserve.test", factory: { _ in h })
    }

    @Test func eachRecordIsOneJSONObjectWithTheDocumentedFields() throws {
        let sink = LineSink()
        var log = logger(sink)
        log[metadataKey: "connection"] = "7"
        log.info("GET /health 200", metadata: ["status": "200", "request_id": "req_1", "tags": ["a", "b"], "nested": ["k": "v"]])
        log.warning("quote \" backslash \\ newline \n tab \t bell \u{7} unicode é 東")
        log.debug("below the level: not written")
        let objs = try sink.objects()
        #expect(objs.count == 2)
        let first = objs[0]
        #expect(Set(first.keys) == ["timestamp", "level", "label", "message", "metadata"])
        #expect(first["level"] as? String == "info" && first["label"] as? String == "moeserve.test")
        #expect(first["message"] as? String == "GET /health 200")
        let meta = try #require(first["metadata"] as? [String: Any])
        #expect(meta["status"] as? String == "200" && meta["request_id"] as? String == "req_1" && meta["connection"] as? String == "7")
        #expect(meta["tags"] as? [String] == ["a", "b"])
        #expect((meta["nested"] as? [String: String]) == ["k": "v"])
        // The message survives escaping byte for byte.
        #expect(objs[1]["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7} unicode é 東")
        #expect(objs[1]["level"] as? String == "warning")
        // RFC 3339 UTC with milliseconds, parseable back.
        let stamp = try #require(first["timestamp"] as? String)
        #expect(stamp.hasSuffix("Z"))
        let parsed = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(stamp)
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
    }

    @Test func errorIsRecordedInMetadata() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
        let sink = LineSink()
        var h = JSONLogHandler(label: "x", write: { sink.write($0) })
        h.logLevel = .trace
        h.log(event: LogEvent(level: .error, message: "failed", error: Boom(), metadata: nil, source: "t", file: #fileID, function: #function, line: #line))
        let obj = try #require(try sink.objects().first)
        #expect((obj["metadata"] as? [String: Any])?["error"] as? String == "boom")
    }
}
