@testable import Engine
import Foundation
import HTTPCore
import Logging
@testable import OpenAIAPI
#if canImport(Glibc)
import Glibc
#endif

/// A backend that answers every request with the given tokens and texts (no model).
final class ScriptedBackend: GenerationBackend, @unchecked Sendable {
    let texts: [String]
    let finish: FinishReason
    private let lock = NSLock()
    private var _submitted: [EngineRequest] = []
    private var _aborted: [String] = []
    let delay: TimeInterval
    /// What the finish names as the request's stop (a stop string or token), and the prompt tokens it reports cached.
    let stop: StopCause?
    let cached: Int

    init(texts: [String], finish: FinishReason = .stop, delay: TimeInterval = 0, stop: StopCause? = nil, cached: Int = 0) {
        self.texts = texts
        self.finish = finish
        self.delay = delay
        self.stop = stop
        self.cached = cached
    }

    var submitted: [EngineRequest] { lock.lock(); defer { lock.unlock() }; return _submitted }
    var aborted: [String] { lock.lock(); defer { lock.unlock() }; return _aborted }

    func submit(_ request: EngineRequest, onEvent: @escaping @Sendable (TokenEvent) -> Void) {
        lock.lock(); _submitted.append(request); lock.unlock()
        let texts = self.texts, finish = self.finish, delay = self.delay
        // A thread per request, as it sleeps between tokens: blocking Dispatch's pool (as wide as the
        // machine) would stall every other test's callbacks when the machine is busy.
        Thread {
            // An embedding request: the pooled vector [3, 4, prompt length, first token], then the end.
            if request.pooling != nil {
                onEvent(.embedding([3, 4, Float(request.promptTokenIDs.count), Float(request.promptTokenIDs[0])]))
                onEvent(.finished(reason: .stop, usage: Usage(promptTokens: request.promptTokenIDs.count, completionTokens: 0)))
                return
            }
            if let k = request.promptLogprobs {
                // Each prompt token after the first at logprob -1 - i/10, itself the top alternative.
                onEvent(.promptLogprobs(request.promptTokenIDs.dropFirst().enumerated().map { i, id in
                    TokenLogprobs(logprob: -1 - Float(i) / 10, top: Array([TokenLogprobs.Candidate(id: id, logprob: -1 - Float(i) / 10)].prefix(k)))
                }))
            }
            // A thinking model's reasoning tokens, counted as the engine counts them.
            var counter = request.sampling.reasoning.map(ReasoningCounter.init)
            for (i, t) in texts.enumerated() {
                if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                if self.aborted.contains(request.id) {
                    onEvent(.finished(reason: .abort, usage: Usage(promptTokens: request.promptTokenIDs.count, completionTokens: i)))
                    return
                }
                let lp = request.sampling.logprobs.map { k in
                    TokenLogprobs(logprob: -0.5, top: (0..<k).map { TokenLogprobs.Candidate(id: i + $0, logprob: -0.5 - Float($0)) })
                }
                counter?.add(Array(t.utf8))
                onEvent(.token(id: i, text: t, logprobs: lp))
            }
            onEvent(.finished(reason: finish, usage: Usage(promptTokens: request.promptTokenIDs.count, completionTokens: texts.count,
                                                           cachedPromptTokens: self.cached, reasoningTokens: counter?.count, stop: self.stop)))
        }.start()
    }

    func abort(_ id: String) { lock.lock(); _aborted.append(id); lock.unlock() }
}

/// One token per message character count, so prompt length is checkable.
struct CountingPrompter: ChatPrompting {
    func tokenBytes(_ id: Int) -> [UInt8] { Array("t\(id)".utf8) }
    /// One token per character: its scalar value.
    func encode(_ text: String) -> [Int] { text.unicodeScalars.map { Int($0.value) } }
    func decode(_ ids: [Int]) -> String { String(String.UnicodeScalarView(ids.compactMap { Unicode.Scalar(UInt32($0)) })) }

    func promptTokens(for messages: [ChatMessage]) throws -> [Int] {
        Array(repeating: 1, count: messages.map { $0.content.count + 1 }.reduce(0, +))
    }
}

/// A running server on an ephemeral port with a scripted backend.
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    let port: Int
    let backend: ScriptedBackend

    let router: OpenAIRouter
    let context: ServingContext

    init(backend: ScriptedBackend, contextLength: Int = 100, kvCapacityTokens: Int = .max, priorityScheduling: Bool = false,
         options: APIOptions = APIOptions(), ready: Bool = true, logger: Logger = Logger(label: "test"),
         prompter: any ChatPrompting = CountingPrompter(), pooling: Pooling? = .last, poolingRefusal: String? = nil,
         generates: Bool = true) throws {
        self.backend = backend
        context = ServingContext(model: ServedModel(id: "test-model", created: 1_700_000_000, contextLength: contextLength, vocabularySize: 200_000,
                                                    kvCapacityTokens: kvCapacityTokens, hiddenSize: 4, pooling: pooling,
                                                    poolingRefusal: poolingRefusal, generates: generates),
                                 backend: backend, prompter: prompter, priorityScheduling: priorityScheduling)
        router = OpenAIRouter(logger: logger, options: options, metricsText: { Array("test_metric 1\n".utf8) })
        if ready { router.setReady(context) }
        var config = HTTPServerConfiguration()
        config.port = 0
        server = HTTPServer(configuration: config, logger: logger, handler: router.handler)
        port = try server.start()
    }

    deinit { server.shutdown(gracePeriod: .seconds(1)) }

    /// Sends one request with `Connection: close` and returns (status, headers, body).
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> RawResponse {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return RawResponse(try RawSocket.exchange(port: port, Array(text.utf8)))
    }
}

struct RawResponse {
    var status = 0
    var headers: [String: String] = [:]
    var body = ""

    /// A stream's events in order: each `event:` name with its `data:` object.
    var namedEvents: [(String, [String: Any])] {
        var out: [(String, [String: Any])] = []
        var name = ""
        for line in body.components(separatedBy: "\n") {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: "), let o = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] {
                out.append((name, o))
            }
        }
        return out
    }

    init(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return }
        let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
        status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        for line in head.dropFirst() {
            if let c = line.firstIndex(of: ":") {
                headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let rawBody = String(text[split.upperBound...])
        body = headers["transfer-encoding"]?.lowercased() == "chunked" ? Self.dechunk(rawBody) : rawBody
    }

    static func dechunk(_ s: String) -> String {
        var out = [UInt8]()
        var bytes = Array(s.utf8)[...]
        while let crlf = bytes.firstIndex(of: 13) {
            let sizeLine = String(decoding: bytes[bytes.startIndex..<crlf], as: UTF8.self)
            guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = crlf + 2
            guard start + size <= bytes.endIndex else { break }
            out += bytes[start..<(start + size)]
            bytes = bytes[(start + size + 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// `data:` payloads of an SSE body, in order.
    var events: [String] {
        body.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
    }
}

enum RawSocket {
    struct Failure: Error { let what: String }

    /// Connects to 127.0.0.1:port, writes `bytes`, reads until the server closes (5 s timeout).
    static func exchange(port: Int, _ bytes: [UInt8]) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(what: "socket") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw Failure(what: "connect") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}
