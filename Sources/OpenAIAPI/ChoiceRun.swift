import Engine
import Foundation
import HTTPCore
#if DEBUG
import Synchronization
#endif

/// The engine requests behind one API request (one per choice), and what they produced so far.
final class ChoiceRun: @unchecked Sendable {
    let requests: [EngineRequest]
    let backend: any GenerationBackend
    let tokenBytes: @Sendable (Int) -> [UInt8]
    private let lock = NSLock()
    private var finished: [Bool]
    private var usages: [Usage?]
    private var failed = false
    private var ended = false
    /// Set by `abortAll`: the client is gone or a choice failed.
    private var abandoned = false
    /// Called once when every choice has finished, one failed, or the client went away.
    private var onEnd: (@Sendable () -> Void)?

    /// Choices per prompt (requests i·n ..< (i+1)·n share prompt i).
    let choicesPerPrompt: Int
    /// vLLM's `prompt_logprobs` count, when the request asked for them.
    let promptLogprobsCount: Int?

    init(requests: [EngineRequest], backend: any GenerationBackend, tokenBytes: @escaping @Sendable (Int) -> [UInt8], choicesPerPrompt: Int = 1,
         promptLogprobs: Int? = nil) {
        self.requests = requests
        promptLogprobsCount = promptLogprobs
        self.choicesPerPrompt = max(1, choicesPerPrompt)
        self.backend = backend
        self.tokenBytes = tokenBytes
        finished = Array(repeating: false, count: requests.count)
        usages = Array(repeating: nil, count: requests.count)
        #if DEBUG
        Self.registry.withLock { _ = $0.insert(requests.first?.id ?? "") }
        #endif
    }

    #if DEBUG
    deinit { Self.registry.withLock { _ = $0.remove(requests.first?.id ?? "") } }

    /// Debug builds (tests): the first engine request id of every run still in memory (a run must not outlive its
    /// request: it holds the prompts and grammars).
    static let registry = Mutex<Set<String>>([])

    /// Whether a run whose first engine request id contains `fragment` is still in memory.
    static func isAlive(containing fragment: String) -> Bool { registry.withLock { $0.contains { $0.contains(fragment) } } }
    #endif

    /// Submits every choice; `onEvent(choice, event)` runs on the engine thread. A client gone before this
    /// (its `abortAll` ran first, and the engine may have taken those aborts before these adds) gets its
    /// aborts again after the adds, so nothing generates for nobody.
    func submit(_ onEvent: @escaping @Sendable (Int, TokenEvent) -> Void) {
        for (i, r) in requests.enumerated() { backend.submit(r) { onEvent(i, $0) } }
        if lock.withLock({ abandoned }) { for r in requests { backend.abort(r.id) } }
    }

    /// A choice's `.promptLogprobs` event with its tokens' text resolved, as an echo shows them: with as many
    /// alternatives as the request's `logprobs` (the engine computed as many as `prompt_logprobs` asked for, if more).
    func promptLogprobs(_ choice: Int, _ logprobs: [TokenLogprobs]) -> PromptLogprobs {
        let k = requests[choice].sampling.logprobs ?? 0
        let trimmed = logprobs.map { lp -> TokenLogprobs in
            var lp = lp
            lp.top = Array(lp.top.prefix(k))
            return lp
        }
        return PromptLogprobs(promptTokenIDs: requests[choice].promptTokenIDs, trimmed, tokenBytes: tokenBytes)
    }

    /// vLLM's `prompt_logprobs`: null for the first prompt token, then per token an object keyed by token id (the
    /// prompt's token, and the `k` most likely) of `{logprob, rank, decoded_token}`; nil unless the request asked.
    func vllmPromptLogprobs(_ choice: Int, _ logprobs: [TokenLogprobs]) -> JSONValue? {
        guard let k = promptLogprobsCount else { return nil }
        let ids = requests[choice].promptTokenIDs
        func entry(_ id: Int, _ logprob: Float, _ rank: Int?) -> (String, JSONValue) {
            ("\(id)", .object([("logprob", .double(Double(logprob))), ("rank", rank.map { .int($0) } ?? .null),
                                ("decoded_token", .string(String(decoding: tokenBytes(id), as: UTF8.self)))]))
        }
        var out: [JSONValue] = [.null]
        for (id, lp) in zip(ids.dropFirst(), logprobs) {
            var fields = [entry(id, lp.logprob, lp.rank)]
            for (r, c) in lp.top.prefix(k).enumerated() where c.id != id { fields.append(entry(c.id, c.logprob, r + 1)) }
            out.append(.object(fields))
        }
        return .array(out)
    }

    func abortAll() {
        lock.withLock { abandoned = true }
        for r in requests { backend.abort(r.id) }
    }

    /// Submits every choice and answers whole or streamed; a disconnect aborts them all. While the
    /// server drains, answers 503 instead (nothing is submitted).
    func respond(shape: some CompletionShape, stream: Bool, includeUsage: Bool, writer: HTTPResponseWriter, headers: HTTPHeaders,
                 inFlight: InFlightRequests) {
        guard begin(writer: writer, headers: headers, inFlight: inFlight) else { return }
        if stream {
            CompletionStreamer(run: self, shape: shape, includeUsage: includeUsage, writer: writer, headers: headers).start()
        } else {
            CompletionCollector(run: self, shape: shape, writer: writer, headers: headers).start()
        }
    }

    /// Admits the run to the in-flight set and ties its end to the connection's: a disconnect aborts every
    /// choice. While the server drains, answers 503 instead (through `refuse`, for an API with its own error shape) and
    /// returns false (nothing may be submitted).
    func begin(writer: HTTPResponseWriter, headers: HTTPHeaders, inFlight: InFlightRequests,
               refuse: ((APIError) -> Void)? = nil) -> Bool {
        guard inFlight.admit(self) else {
            let error = APIError.unavailable("the server is shutting down; retry on another replica")
            if let refuse { refuse(error) } else { writer.respondError(error, headers: headers) }
            return false
        }
        lock.withLock { onEnd = { inFlight.ended(self) } }
        writer.onClose { [self] in
            abortAll()
            end()
        }
        return true
    }

    /// Records a choice's end; true when it was the last one (and nothing failed before).
    func finish(_ choice: Int, usage: Usage) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        finished[choice] = true
        usages[choice] = usage
        let all = finished.allSatisfy { $0 }
        if all { endLocked() }
        return !failed && all
    }

    /// Records a failure; true only for the first one (so one error is reported).
    func fail() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        defer { failed = true }
        endLocked()
        return !failed
    }

    private func end() { lock.withLock { endLocked() } }

    /// Call with `lock` held. The callback runs asynchronously: it takes the tracker's lock.
    private func endLocked() {
        guard !ended, let onEnd else { return }
        ended = true
        // The callback holds this run (it reports it ended): dropping it breaks the cycle, which kept every
        // request's run, its engine requests and their grammars alive for good.
        self.onEnd = nil
        DispatchQueue.global().async(execute: onEnd)
    }

    /// Each prompt counted once (not once per choice), completions summed over choices.
    var usage: Usage {
        lock.lock()
        defer { lock.unlock() }
        var u = Usage(promptTokens: 0, completionTokens: 0)
        for (i, r) in requests.enumerated() {
            u.completionTokens += usages[i]?.completionTokens ?? 0
            if i % choicesPerPrompt == 0 {
                u.promptTokens += r.promptTokenIDs.count
                u.cachedPromptTokens += usages[i]?.cachedPromptTokens ?? 0
            }
        }
        // Reasoning tokens, summed over the choices that counted them.
        let counted = usages.compactMap { $0?.reasoningTokens }
        u.reasoningTokens = counted.isEmpty ? nil : counted.reduce(0, +)
        // Simulated timings: those of the choice that finished last on the simulated clock.
        u.simulated = usages.compactMap { $0?.simulated }.max { $0.total < $1.total }
        return u
    }
}

/// Non-streaming: gathers every choice, then answers once.
struct CompletionCollector<Shape: CompletionShape> {
    let run: ChoiceRun
    let shape: Shape
    let writer: HTTPResponseWriter
    let headers: HTTPHeaders

    func start() {
        let state = ChoiceTexts(count: run.requests.count)
        let (run, response, writer, headers) = (self.run, self.shape, self.writer, self.headers)
        run.submit { choice, event in
            switch event {
            case let .token(id, text, logprobs):
                state.append(choice, text: text, logprob: logprobs.map { TokenLogprobsEntry(token: id, $0, tokenBytes: run.tokenBytes) })
            case let .text(text):
                state.append(choice, text: text, logprob: nil)
            case let .promptLogprobs(logprobs):
                state.setPrompt(choice, run.promptLogprobs(choice, logprobs), vllm: run.vllmPromptLogprobs(choice, logprobs))
            case .embedding: break   // only embedding requests get one
            case let .finished(reason, usage):
                // An abort is reported (drain deadline) unless the client is gone (disconnect).
                guard reason != .abort || !writer.isClosed else { return }
                state.finish(choice, reason, stop: usage.stop)
                if run.finish(choice, usage: usage) {
                    writer.respondJSON(response.whole(choices: state.choices(withLogprobs: run.requests[0].sampling.logprobs != nil), usage: run.usage),
                                       headers: headers)
                }
            case let .failed(message):
                if run.fail() {
                    run.abortAll()
                    writer.respondError(.engineFailure(message), headers: headers)
                }
            }
        }
    }
}

/// Streaming: one SSE chunk per event, `finish_reason` once per choice, optional usage chunk, `[DONE]`.
struct CompletionStreamer<Shape: CompletionShape> {
    let run: ChoiceRun
    let shape: Shape
    let includeUsage: Bool
    let writer: HTTPResponseWriter
    let headers: HTTPHeaders

    func start() {
        let sse = SSEWriter(writer)
        let (run, response, includeUsage, writer) = (self.run, self.shape, self.includeUsage, self.writer)
        sse.start(extraHeaders: headers)
        // A choice that echoes its prompt with logprobs opens once they are computed (`.promptLogprobs`).
        for i in run.requests.indices where run.requests[i].promptLogprobs == nil {
            if let opening = response.openingChunk(choice: i, prompt: nil) { sse.send(data: opening.serialized()) }
        }
        let offsets = TokenOffsets(count: run.requests.count)
        run.submit { choice, event in
            switch event {
            case let .token(id, text, logprobs):
                guard !text.isEmpty || logprobs != nil else { return }
                let lp = logprobs.map { TokenLogprobsEntry(token: id, $0, tokenBytes: run.tokenBytes) }
                guard let chunk = response.deltaChunk(choice: choice, text: text, logprobs: lp,
                                                      tokenOffset: offsets.advance(choice, by: text.unicodeScalars.count)) else { return }
                if sse.send(data: chunk.serialized()) == .closed {
                    run.abortAll()
                }
            case let .text(text):
                if let chunk = response.deltaChunk(choice: choice, text: text, logprobs: nil,
                                                   tokenOffset: offsets.advance(choice, by: text.unicodeScalars.count)) {
                    sse.send(data: chunk.serialized())
                }
            case let .promptLogprobs(logprobs):
                if let opening = response.openingChunk(choice: choice, prompt: run.promptLogprobs(choice, logprobs)) {
                    sse.send(data: opening.serialized())
                }
            case .embedding: break
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                for chunk in response.finishChunks(choice: choice, reason: reason, stop: usage.stop) { sse.send(data: chunk.serialized()) }
                if run.finish(choice, usage: usage) {
                    if includeUsage { sse.send(data: response.usageChunk(run.usage).serialized()) }
                    sse.send(data: "[DONE]")
                    sse.finish()
                }
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                sse.send(data: APIError.engineFailure(message).json.serialized(), event: "error")
                sse.send(data: "[DONE]")
                sse.finish()
            }
        }
    }
}

/// Per-choice text, logprobs and finish reasons of a non-streaming request.
final class ChoiceTexts: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [[String]]
    private var logprobs: [[TokenLogprobsEntry]]
    private var reasons: [FinishReason?]
    private var stops: [StopCause?]
    private var prompts: [PromptLogprobs?]
    private var vllmPrompts: [JSONValue?]
    /// Unicode scalars of each choice's text so far.
    private var scalars: [Int]

    init(count: Int) {
        scalars = Array(repeating: 0, count: count)
        texts = Array(repeating: [], count: count)
        logprobs = Array(repeating: [], count: count)
        reasons = Array(repeating: nil, count: count)
        stops = Array(repeating: nil, count: count)
        prompts = Array(repeating: nil, count: count)
        vllmPrompts = Array(repeating: nil, count: count)
    }

    func setPrompt(_ choice: Int, _ prompt: PromptLogprobs, vllm: JSONValue?) {
        lock.withLock {
            prompts[choice] = prompt
            vllmPrompts[choice] = vllm
        }
    }

    /// Appends a token's (or a released tail's) text; a logprob entry gets the characters before it as offset.
    func append(_ choice: Int, text: String, logprob: TokenLogprobsEntry?) {
        lock.lock()
        if var logprob {
            logprob.offset = scalars[choice]
            logprobs[choice].append(logprob)
        }
        texts[choice].append(text)
        scalars[choice] += text.unicodeScalars.count
        lock.unlock()
    }

    func finish(_ choice: Int, _ reason: FinishReason, stop: StopCause?) {
        lock.lock()
        reasons[choice] = reason
        stops[choice] = stop
        lock.unlock()
    }

    func choices(withLogprobs: Bool) -> [CompletionChoice] {
        lock.lock()
        defer { lock.unlock() }
        return texts.indices.map { (texts[$0].joined(), reasons[$0] ?? .stop, stops[$0], withLogprobs ? logprobs[$0] : nil, prompts[$0], vllmPrompts[$0]) }
    }
}

/// Per choice, the characters (Unicode scalars) of the text streamed so far (the legacy `text_offset` of the next token).
final class TokenOffsets: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int]

    init(count: Int) { values = Array(repeating: 0, count: count) }

    /// The choice's offset before this token; then moves it on by `characters`.
    func advance(_ choice: Int, by characters: Int) -> Int {
        lock.withLock {
            defer { values[choice] += characters }
            return values[choice]
        }
    }
}
