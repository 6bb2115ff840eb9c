import Foundation
import HTTPCore
import Logging
import Testing
@testable import OpenAIAPI

/// A response fetched on another thread.
final class PendingResponse: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: RawResponse?

    init(_ fetch: @escaping @Sendable () throws -> RawResponse) {
        // A thread, not Dispatch's pool: the fetch blocks, and the pool is only as wide as the machine.
        Thread {
            self.result = try? fetch()
            self.done.signal()
        }.start()
    }

    func wait() throws -> RawResponse {
        guard done.wait(timeout: .now() + 20) == .success, let result else { throw RawSocket.Failure(what: "no response") }
        return result
    }
}

/// Polls (bounded) until `condition` holds; false if it never did.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// SIGTERM's drain as the router does it: new requests and /health get 503, requests in flight finish,
/// or end with finish_reason "abort" when the deadline comes first.
@Suite struct DrainTests {
    static let chat = #"{"model":"test-model","messages":[{"role":"user","content":"a"}],"max_tokens":50"#

    @Test func inFlightRequestsFinishWhileNewOnesGet503() throws {
        // Five tokens, 40 ms apart: still running when the drain begins.
        let s = try TestServer(backend: ScriptedBackend(texts: ["a", "b", "c", "d", "e"], delay: 0.04))
        let stream = PendingResponse { try s.request("POST", "/v1/chat/completions", body: Self.chat + #","stream":true}"#) }
        let whole = PendingResponse { try s.request("POST", "/v1/chat/completions", body: Self.chat + "}") }
        #expect(eventually { s.router.inFlightCount == 2 })
        s.router.beginDrain()

        let refused = try s.request("POST", "/v1/chat/completions", body: Self.chat + "}")
        #expect(refused.status == 503)
        #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "service_unavailable")
        #expect(refused.headers["retry-after"] == "1")
        let health = try s.request("GET", "/health")
        #expect(health.status == 503 && health.json["status"] as? String == "draining")
        #expect(try s.request("GET", "/metrics").status == 200)

        #expect(s.router.waitUntilIdle(deadline: Date(timeIntervalSinceNow: 20)))
        let streamed = try stream.wait()
        #expect(streamed.events.last == "[DONE]")
        let chunks = streamed.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let reasons = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String }
        #expect(reasons == ["stop"])
        let answered = try whole.wait()
        #expect(answered.status == 200)
        let choice = (answered.json["choices"] as? [[String: Any]])?.first
        #expect(choice?["finish_reason"] as? String == "stop")
        #expect((choice?["message"] as? [String: Any])?["content"] as? String == "abcde")
        #expect(s.backend.aborted.isEmpty, "nothing was aborted")
    }

    @Test func atTheDeadlineRequestsEndWithAbort() throws {
        // 400 tokens, 20 ms apart: far longer than the drain deadline.
        let s = try TestServer(backend: ScriptedBackend(texts: Array(repeating: "x", count: 400), delay: 0.02))
        let stream = PendingResponse { try s.request("POST", "/v1/chat/completions", body: Self.chat + #","stream":true,"stream_options":{"include_usage":true}}"#) }
        let whole = PendingResponse { try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hi","max_tokens":90}"#) }
        #expect(eventually { s.router.inFlightCount == 2 })
        s.router.beginDrain()
        #expect(!s.router.waitUntilIdle(deadline: Date(timeIntervalSinceNow: 0.1)), "still running at the deadline")
        #expect(s.router.abortInFlight() == 2)
        #expect(s.router.waitUntilIdle(deadline: Date(timeIntervalSinceNow: 20)))
        #expect(s.backend.aborted.count == 2)

        let streamed = try stream.wait()
        #expect(streamed.status == 200)
        #expect(streamed.events.last == "[DONE]")
        let chunks = streamed.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let reasons = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String }
        #expect(reasons == ["abort"], "one final chunk with finish_reason abort")
        #expect(chunks.last?["usage"] != nil, "the usage chunk still comes before [DONE]")

        let answered = try whole.wait()
        #expect(answered.status == 200)
        let choice = (answered.json["choices"] as? [[String: Any]])?.first
        #expect(choice?["finish_reason"] as? String == "abort")
        // What was generated before the deadline is kept, and usage counts it.
        let usage = answered.json["usage"] as? [String: Any]
        #expect((choice?["text"] as? String)?.count == usage?["completion_tokens"] as? Int, "\(answered.body)")
    }
}

/// Records log messages and metadata, for tests.
final class CapturedLogs: @unchecked Sendable {
    private let lock = NSLock()
    private var _records: [(String, Logger.Metadata)] = []
    var records: [(String, Logger.Metadata)] { lock.withLock { _records } }
    func add(_ message: String, _ metadata: Logger.Metadata) { lock.withLock { _records.append((message, metadata)) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.add(event.message.description, metadata.merging(event.metadata ?? [:]) { _, new in new })
        }
    }
}

@Suite struct RequestLoggingTests {
    static let secret = "my secret prompt text"
    static let body = #"{"model":"test-model","messages":[{"role":"user","content":"my secret prompt text"}],"max_tokens":1}"#

    @Test func accessLineCarriesTheRequestIDAndNoPrompt() throws {
        let logs = CapturedLogs()
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), logger: logs.logger)
        #expect(try s.request("POST", "/v1/chat/completions", body: Self.body, headers: ["X-Request-Id": "rid-77"]).status == 200)
        #expect(try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"my secret prompt text","max_tokens":1}"#).status == 200)
        #expect(eventually { logs.records.filter { $0.1["request_id"] != nil && $0.1["status"] != nil }.count == 2 })
        let access = logs.records.filter { $0.1["request_id"] == "rid-77" && $0.1["status"] != nil }
        #expect(access.count == 1, "one access-log line per request")
        #expect(access.first?.0 == "POST /v1/chat/completions 200")
        #expect(access.first?.1["path"] == "/v1/chat/completions")
        for (message, metadata) in logs.records {
            #expect(!message.contains(Self.secret) && !"\(metadata)".contains(Self.secret), "prompt text logged: \(message) \(metadata)")
        }
    }

    @Test func logPromptsLogsThemWithTheRequestID() throws {
        let logs = CapturedLogs()
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), options: APIOptions(logPrompts: true), logger: logs.logger)
        #expect(try s.request("POST", "/v1/chat/completions", body: Self.body, headers: ["X-Request-Id": "rid-78"]).status == 200)
        let prompt = logs.records.first { $0.0 == "prompt" }
        #expect(prompt?.1["request_id"] == "rid-78")
        let messages = "\(prompt?.1["messages"] ?? "")"
        #expect(messages.contains(Self.secret))
    }
}
