import Engine
import Foundation
import HTTPCore
import Logging

/// `POST /v1/chat/completions`: validate, build the prompt, submit one engine request per choice,
/// answer whole or as SSE.
struct ChatCompletionHandler {
    let context: ServingContext
    let logger: Logger

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let chat = try ChatCompletionRequest.parse(request.body)
            if !chat.unknownFields.isEmpty {
                logger.info("ignoring unknown request fields", metadata: ["fields": "\(chat.unknownFields.joined(separator: ","))"])
            }
            let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let requests = try makeEngineRequests(chat, id: id)
            let response = ChatResponseBuilder(id: id, model: context.model.id, created: Int(Date().timeIntervalSince1970),
                                               fingerprint: context.systemFingerprint, tokenBytes: context.prompter.tokenBytes)
            let run = ChoiceRun(requests: requests, backend: context.backend)
            writer.onClose { run.abortAll() }
            if chat.stream {
                ChatStreamer(run: run, response: response, includeUsage: chat.includeUsage, writer: writer).start()
            } else {
                ChatCollector(run: run, response: response, writer: writer).start()
            }
        } catch let e as APIError {
            writer.respondError(e)
        } catch {
            writer.respondError(.server("\(error)"))
        }
    }

    func makeEngineRequests(_ chat: ChatCompletionRequest, id: String) throws -> [EngineRequest] {
        guard chat.model == context.model.id else {
            throw APIError.notFound("the model '\(chat.model)' does not exist; this server serves '\(context.model.id)'", code: "model_not_found", param: "model")
        }
        let prompt: [Int]
        do {
            prompt = try context.prompter.promptTokens(for: chat.messages)
        } catch {
            throw APIError.invalid("the chat template could not render these messages: \(error)", param: "messages", code: "template_error")
        }
        let ctx = context.model.contextLength
        guard prompt.count < ctx else {
            throw APIError.invalid("the prompt has \(prompt.count) tokens, which does not fit the model's context of \(ctx) tokens", param: "messages", code: "context_length_exceeded")
        }
        let maxTokens = chat.maxTokens ?? (ctx - prompt.count)
        guard prompt.count + maxTokens <= ctx else {
            throw APIError.invalid("the prompt (\(prompt.count) tokens) plus max_tokens (\(maxTokens)) exceeds the model's context of \(ctx) tokens", param: "max_tokens", code: "context_length_exceeded")
        }
        if let bad = chat.logitBias.keys.first(where: { $0 >= context.model.vocabularySize }) {
            throw APIError.invalid("'logit_bias' names token \(bad), but the vocabulary has \(context.model.vocabularySize) tokens", param: "logit_bias", code: "invalid_value")
        }
        var sampling = SamplingParams()
        sampling.temperature = Float(chat.temperature ?? 1)
        sampling.topP = Float(chat.topP ?? 1)
        sampling.topK = max(0, chat.topK ?? 0)
        sampling.maxTokens = maxTokens
        sampling.ignoreEOS = chat.ignoreEOS
        sampling.stopStrings = chat.stop
        sampling.minP = Float(chat.minP ?? 0)
        sampling.presencePenalty = Float(chat.presencePenalty ?? 0)
        sampling.frequencyPenalty = Float(chat.frequencyPenalty ?? 0)
        sampling.repetitionPenalty = Float(chat.repetitionPenalty ?? 1)
        sampling.logitBias = chat.logitBias.mapValues { Float($0) }
        sampling.logprobs = chat.topLogprobs
        return (0..<chat.n).map { i in
            var s = sampling
            // Distinct but reproducible streams per choice.
            s.seed = chat.seed.map { UInt64(bitPattern: Int64($0)) &+ UInt64(i) }
            return EngineRequest(id: chat.n == 1 ? id : "\(id)-\(i)", promptTokenIDs: prompt, sampling: s)
        }
    }
}

/// The engine requests behind one API request (one per choice), and what they produced so far.
final class ChoiceRun: @unchecked Sendable {
    let requests: [EngineRequest]
    let backend: any GenerationBackend
    private let lock = NSLock()
    private var finished: [Bool]
    private var usages: [Usage?]
    private var failed = false

    init(requests: [EngineRequest], backend: any GenerationBackend) {
        self.requests = requests
        self.backend = backend
        finished = Array(repeating: false, count: requests.count)
        usages = Array(repeating: nil, count: requests.count)
    }

    /// Submits every choice; `onEvent(choice, event)` runs on the engine thread.
    func submit(_ onEvent: @escaping @Sendable (Int, TokenEvent) -> Void) {
        for (i, r) in requests.enumerated() { backend.submit(r) { onEvent(i, $0) } }
    }

    func abortAll() { for r in requests { backend.abort(r.id) } }

    /// Records a choice's end; true when it was the last one (and nothing failed before).
    func finish(_ choice: Int, usage: Usage) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        finished[choice] = true
        usages[choice] = usage
        return !failed && finished.allSatisfy { $0 }
    }

    /// Records a failure; true only for the first one (so one error is reported).
    func fail() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        defer { failed = true }
        return !failed
    }

    /// Prompt counted once, completions summed over choices.
    var usage: Usage {
        lock.lock()
        defer { lock.unlock() }
        let all = usages.compactMap { $0 }
        return Usage(promptTokens: all.first?.promptTokens ?? requests.first?.promptTokenIDs.count ?? 0,
                     completionTokens: all.reduce(0) { $0 + $1.completionTokens },
                     cachedPromptTokens: all.first?.cachedPromptTokens ?? 0)
    }
}

/// Non-streaming: gathers every choice, then answers once.
struct ChatCollector {
    let run: ChoiceRun
    let response: ChatResponseBuilder
    let writer: HTTPResponseWriter

    func start() {
        let state = ChoiceTexts(count: run.requests.count)
        let (run, response, writer) = (self.run, self.response, self.writer)
        run.submit { choice, event in
            switch event {
            case let .token(id, text, logprobs):
                state.append(choice, text: text, logprob: logprobs.map { response.logprobEntry(token: id, $0) })
            case let .text(text):
                state.append(choice, text: text, logprob: nil)
            case let .finished(reason, usage):
                guard reason != .abort else { return }
                state.finish(choice, reason)
                if run.finish(choice, usage: usage) {
                    writer.respondJSON(response.completion(choices: state.choices(withLogprobs: run.requests[0].sampling.logprobs != nil), usage: run.usage))
                }
            case let .failed(message):
                if run.fail() {
                    run.abortAll()
                    writer.respondError(.server(message))
                }
            }
        }
    }
}

/// Streaming: one SSE chunk per event, `finish_reason` once per choice, optional usage chunk, `[DONE]`.
struct ChatStreamer {
    let run: ChoiceRun
    let response: ChatResponseBuilder
    let includeUsage: Bool
    let writer: HTTPResponseWriter

    func start() {
        let sse = SSEWriter(writer)
        let (run, response, includeUsage) = (self.run, self.response, self.includeUsage)
        sse.start()
        for i in run.requests.indices {
            sse.send(data: response.chunk(choice: i, delta: .object([("role", .string("assistant")), ("content", .string(""))]), finishReason: nil).serialized())
        }
        run.submit { choice, event in
            switch event {
            case let .token(id, text, logprobs):
                guard !text.isEmpty || logprobs != nil else { return }
                let lp = logprobs.map { JSONValue.object([("content", .array([response.logprobEntry(token: id, $0)]))]) }
                if sse.send(data: response.chunk(choice: choice, delta: .object([("content", .string(text))]), finishReason: nil, logprobs: lp).serialized()) == .closed {
                    run.abortAll()
                }
            case let .text(text):
                sse.send(data: response.chunk(choice: choice, delta: .object([("content", .string(text))]), finishReason: nil).serialized())
            case let .finished(reason, usage):
                guard reason != .abort else { return }
                sse.send(data: response.chunk(choice: choice, delta: .object([]), finishReason: reason).serialized())
                if run.finish(choice, usage: usage) {
                    if includeUsage { sse.send(data: response.usageChunk(run.usage).serialized()) }
                    sse.send(data: "[DONE]")
                    sse.finish()
                }
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                sse.send(data: APIError.server(message).json.serialized(), event: "error")
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
    private var logprobs: [[JSONValue]]
    private var reasons: [FinishReason?]

    init(count: Int) {
        texts = Array(repeating: [], count: count)
        logprobs = Array(repeating: [], count: count)
        reasons = Array(repeating: nil, count: count)
    }

    func append(_ choice: Int, text: String, logprob: JSONValue?) {
        lock.lock()
        texts[choice].append(text)
        if let logprob { logprobs[choice].append(logprob) }
        lock.unlock()
    }

    func finish(_ choice: Int, _ reason: FinishReason) {
        lock.lock()
        reasons[choice] = reason
        lock.unlock()
    }

    func choices(withLogprobs: Bool) -> [(text: String, reason: FinishReason, logprobs: [JSONValue]?)] {
        lock.lock()
        defer { lock.unlock() }
        return texts.indices.map { (texts[$0].joined(), reasons[$0] ?? .stop, withLogprobs ? logprobs[$0] : nil) }
    }
}
