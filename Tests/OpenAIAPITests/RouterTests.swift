import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import Engine
@testable import OpenAIAPI

/// The API over real sockets with a scripted backend.
@Suite struct RouterTests {
    let chat = #"{"model":"test-model","messages":[{"role":"user","content":"hello"}],"temperature":0,"max_tokens":10}"#

    @Test func nonStreamingCompletion() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["Hel", "lo", " wörld"]))
        let r = try s.request("POST", "/v1/chat/completions", body: chat)
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        let j = r.json
        #expect((j["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        #expect(j["object"] as? String == "chat.completion")
        #expect(j["model"] as? String == "test-model")
        let choice = (j["choices"] as? [[String: Any]])?.first
        #expect((choice?["message"] as? [String: Any])?["content"] as? String == "Hello wörld")
        #expect((choice?["message"] as? [String: Any])?["role"] as? String == "assistant")
        #expect(choice?["finish_reason"] as? String == "stop")
        #expect(choice?.keys.contains("logprobs") == true)
        let usage = j["usage"] as? [String: Any]
        #expect(usage?["prompt_tokens"] as? Int == 6 && usage?["completion_tokens"] as? Int == 3 && usage?["total_tokens"] as? Int == 9)
        #expect((usage?["prompt_tokens_details"] as? [String: Int])?["cached_tokens"] == 0)
        // What reached the engine: the prompt tokens and the sampling parameters the client sent.
        let submitted = try #require(s.backend.submitted.first)
        #expect(submitted.promptTokenIDs.count == 6)
        #expect(submitted.sampling.temperature == 0 && submitted.sampling.maxTokens == 10)
    }

    @Test func streamingIsWellFormedSSE() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["Hel", "lo", "!"], finish: .length))
        let body = chat.replacingOccurrences(of: "\"max_tokens\":10", with: "\"max_tokens\":10,\"stream\":true,\"stream_options\":{\"include_usage\":true}")
        let r = try s.request("POST", "/v1/chat/completions", body: body)
        #expect(r.status == 200)
        #expect(r.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let events = r.events
        #expect(events.last == "[DONE]")
        let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(chunks.count == events.count - 1)
        #expect(Set(chunks.compactMap { $0["id"] as? String }).count == 1)
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let choices = chunks.map { ($0["choices"] as? [[String: Any]]) ?? [] }
        #expect((choices.first?.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
        let text = choices.flatMap { $0 }.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        #expect(text == "Hello!")
        let finishes = choices.flatMap { $0 }.compactMap { $0["finish_reason"] as? String }
        #expect(finishes == ["length"])
        // The usage chunk comes last, with no choices.
        #expect(choices.last?.isEmpty == true)
        #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 3)
    }

    @Test func severalChoicesWithLogprobs() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["a", "b"]))
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"n":3,"seed":5,"logprobs":true,"top_logprobs":2,"max_tokens":4}"#
        let r = try s.request("POST", "/v1/chat/completions", body: body)
        #expect(r.status == 200)
        let choices = try #require(r.json["choices"] as? [[String: Any]])
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
        #expect(choices.allSatisfy { ($0["message"] as? [String: Any])?["content"] as? String == "ab" })
        let content = try #require((choices[0]["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
        #expect(content.count == 2)
        #expect(content[0]["token"] as? String == "t0" && content[0]["logprob"] as? Double == -0.5)
        #expect(content[0]["bytes"] as? [Int] == Array("t0".utf8).map(Int.init))
        #expect((content[0]["top_logprobs"] as? [[String: Any]])?.count == 2)
        // Completion tokens summed over choices; prompt counted once.
        let usage = try #require(r.json["usage"] as? [String: Any])
        #expect(usage["completion_tokens"] as? Int == 6 && usage["prompt_tokens"] as? Int == 3)
        // Each choice ran as its own engine request with its own reproducible seed.
        let seeds = s.backend.submitted.map(\.sampling.seed).sorted { ($0 ?? 0) < ($1 ?? 0) }
        #expect(seeds == [5, 6, 7])
        #expect(Set(s.backend.submitted.map(\.id)).count == 3)
    }

    @Test func streamingSeveralChoices() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x", "y"]))
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"n":2,"stream":true,"max_tokens":4}"#
        let r = try s.request("POST", "/v1/chat/completions", body: body)
        let chunks = r.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(r.events.last == "[DONE]")
        let items = chunks.flatMap { ($0["choices"] as? [[String: Any]]) ?? [] }
        for i in 0..<2 {
            let mine = items.filter { $0["index"] as? Int == i }
            #expect((mine.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
            #expect(mine.compactMap { $0["finish_reason"] as? String }.count == 1)
            #expect(mine.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined() == "xy")
        }
    }

    @Test func errorsHaveOpenAIShapeAndStatus() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), contextLength: 20)
        let cases: [(String, String, String?, Int)] = [
            ("POST", "/v1/chat/completions", "{bad json", 400),
            ("POST", "/v1/chat/completions", #"{"model":"test-model"}"#, 400),
            ("POST", "/v1/chat/completions", #"{"model":"other","messages":[{"role":"user","content":"x"}]}"#, 404),
            // prompt of 6 tokens + max_tokens 15 > context 20
            ("POST", "/v1/chat/completions", #"{"model":"test-model","messages":[{"role":"user","content":"hello"}],"max_tokens":15}"#, 400),
            ("GET", "/v1/chat/completions", nil, 405),
            // A method no route knows (methods are case-sensitive): 501, as RFC 9110 says.
            ("BREW", "/v1/models", nil, 501),
            ("get", "/v1/models", nil, 501),
            ("GET", "/nope", nil, 404),
            ("GET", "/v1/models/missing", nil, 404),
        ]
        for (method, path, body, status) in cases {
            let r = try s.request(method, path, body: body)
            #expect(r.status == status, "\(method) \(path) \(body ?? "")")
            let err = r.json["error"] as? [String: Any]
            #expect(err?["message"] is String, "\(path): \(r.body)")
            #expect(err?["type"] is String)
            #expect(err?.keys.contains("param") == true && err?.keys.contains("code") == true)
        }
        #expect(s.backend.submitted.isEmpty, "no invalid request reaches the engine")
        #expect(try s.request("GET", "/v1/chat/completions").headers["allow"] == "POST")
        #expect(try s.request("POST", "/health").headers["allow"] == "GET, HEAD")
        let overflow = try s.request("POST", "/v1/chat/completions", body: cases[3].2)
        let msg = (overflow.json["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(msg.contains("6") && msg.contains("15") && msg.contains("20"))
    }

    @Test func defaultMaxTokensFillsTheContext() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), contextLength: 50)
        _ = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"hello"}]}"#)
        #expect(s.backend.submitted.first?.sampling.maxTokens == 44)
    }

    @Test func modelsAndHealth() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let list = try s.request("GET", "/v1/models")
        #expect(list.status == 200)
        let data = list.json["data"] as? [[String: Any]]
        #expect(data?.first?["id"] as? String == "test-model")
        #expect(data?.first?["object"] as? String == "model")
        #expect(try s.request("GET", "/v1/models/test-model").json["id"] as? String == "test-model")
        #expect(try s.request("GET", "/health").status == 200)
    }

    @Test func clientDisconnectAbortsTheRequest() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: Array(repeating: "tok", count: 200), delay: 0.01))
        let body = chat.replacingOccurrences(of: "\"max_tokens\":10", with: "\"max_tokens\":10,\"stream\":true")
        // Send the request and hang up without reading.
        let text = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try RawSocket.sendAndClose(port: s.port, Array(text.utf8))
        let deadline = Date().addingTimeInterval(3)
        while s.backend.aborted.isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        // Once, or twice when the hang-up was seen before the submission (the aborts are sent again after it).
        #expect(!s.backend.aborted.isEmpty && Set(s.backend.aborted) == Set(s.backend.submitted.map(\.id)))
    }

    /// A KV cache smaller than the model's context limits every request to the cache: `max_model_len` says so,
    /// a request beyond it is a 400 naming the cache (the engine would otherwise fail it as a 500), and the
    /// default max_tokens fills the cache, not the context.
    @Test func aKVCacheSmallerThanTheContextLimitsRequests() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), contextLength: 100, kvCapacityTokens: 20)
        let models = try s.request("GET", "/v1/models").json["data"] as? [[String: Any]]
        #expect(models?.first?["max_model_len"] as? Int == 20)
        let tooLong = try s.request("POST", "/v1/chat/completions",
                                    body: #"{"model":"test-model","messages":[{"role":"user","content":"hello"}],"max_tokens":15}"#)
        #expect(tooLong.status == 400)
        let error = tooLong.json["error"] as? [String: Any]
        #expect(error?["code"] as? String == "context_length_exceeded")
        let message = error?["message"] as? String ?? ""
        #expect(message.contains("KV cache's 20 tokens") && message.contains("context is 100"), "\(message)")
        let prompt = String(repeating: "a", count: 30)
        #expect(try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"\#(prompt)"}"#).status == 400)
        #expect(s.backend.submitted.isEmpty)
        _ = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"hello"}]}"#)
        #expect(s.backend.submitted.first?.sampling.maxTokens == 14)
    }

    /// Two requests with the same `X-Request-Id` (a client's fixed header, a retry) both keep it in their
    /// completion id, but reach the engine under distinct ids: the engine keys KV blocks and aborts by id.
    @Test func sharedRequestIdsReachTheEngineUnderDistinctIds() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"n":2,"temperature":0.5}"#
        let a = try s.request("POST", "/v1/chat/completions", body: body, headers: ["X-Request-Id": "same"])
        let b = try s.request("POST", "/v1/chat/completions", body: body, headers: ["X-Request-Id": "same"])
        #expect(a.json["id"] as? String == "chatcmpl-same" && b.json["id"] as? String == "chatcmpl-same")
        let ids = s.backend.submitted.map(\.id)
        #expect(ids.count == 4 && Set(ids).count == 4, "\(ids)")
        #expect(ids.allSatisfy { $0.hasPrefix("chatcmpl-same#") })
    }

    /// `priority` (vLLM's extension) reaches the engine under `--policy priority`, and is refused otherwise
    /// rather than ignored.
    @Test func priorityReachesTheEngineOnlyUnderThePriorityPolicy() throws {
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"priority":-7,"n":2,"temperature":1}"#
        let on = try TestServer(backend: ScriptedBackend(texts: ["x"]), priorityScheduling: true)
        #expect(try on.request("POST", "/v1/chat/completions", body: body).status == 200)
        #expect(on.backend.submitted.map(\.priority) == [-7, -7])
        let off = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let refused = try off.request("POST", "/v1/chat/completions", body: body)
        #expect(refused.status == 400 && (refused.json["error"] as? [String: Any])?["param"] as? String == "priority")
        #expect(off.backend.submitted.isEmpty)
        #expect(try off.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hi","priority":0}"#).status == 200)
    }

    /// `n` > 1 needs a temperature the sampler does not treat as 0: 1e-50 is 0 as a Float.
    @Test func nAboveOneNeedsANonZeroFloatTemperature() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        for (t, status) in [("1e-50", 400), ("0", 400), ("1e-30", 200)] {
            let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"n":2,"temperature":\#(t)}"#
            #expect(try s.request("POST", "/v1/chat/completions", body: body).status == status, "temperature \(t)")
        }
    }

    /// A client gone before its choices were submitted (its `abortAll` ran first, and the engine may take
    /// those aborts before the adds) has its aborts sent again after the adds.
    @Test func anAbortBeforeTheSubmissionIsRepeatedAfterIt() {
        let backend = OrderedBackend()
        let run = ChoiceRun(requests: [EngineRequest(id: "r-0", promptTokenIDs: [1], sampling: SamplingParams()),
                                       EngineRequest(id: "r-1", promptTokenIDs: [1], sampling: SamplingParams())],
                            backend: backend, tokenBytes: { _ in [] })
        run.abortAll()
        run.submit { _, _ in }
        for id in ["r-0", "r-1"] {
            let submitted = backend.log.firstIndex(of: "submit \(id)"), lastAbort = backend.log.lastIndex(of: "abort \(id)")
            #expect(submitted != nil && lastAbort != nil && lastAbort! > submitted!, "\(backend.log)")
        }
    }
}

/// Records submissions and aborts in order, as the engine's inbox sees them.
final class OrderedBackend: GenerationBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var _log: [String] = []
    var log: [String] { lock.withLock { _log } }
    func submit(_ request: EngineRequest, onEvent: @escaping @Sendable (TokenEvent) -> Void) { lock.withLock { _log.append("submit \(request.id)") } }
    func abort(_ id: String) { lock.withLock { _log.append("abort \(id)") } }
}

extension RawSocket {
    static func sendAndClose(port: Int, _ bytes: [UInt8]) throws {
        // Reuse exchange's connect path with a zero-length read: close right after sending.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(what: "socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw Failure(what: "connect") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        Thread.sleep(forTimeInterval: 0.1)
        close(fd)
    }
}
